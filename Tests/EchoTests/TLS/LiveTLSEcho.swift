@_spi(Locking) import BreakwaterCore
import BreakwaterHTTP2
import EchoService

/// Runs `body` with an echo client connected over TLS on loopback to a live echo server over TLS.
@discardableResult
func withTLSEcho<Result>(
    server serverTLS: TLSServerConfiguration?,
    client clientTLS: TLSClientConfiguration?,
    host: String = "127.0.0.1",
    serverConfiguration: HTTP2ServerTransport.Configuration = .init(),
    clientConfiguration: HTTP2ClientTransport.Configuration = .init(),
    interceptors: [any ServerInterceptor] = [],
    _ body: (Echo_EchoClient, LiveEchoServer) async throws -> Result
) async throws -> Result {
    var serverConfiguration = serverConfiguration
    serverConfiguration.tls = serverTLS
    let provider = EchoProvider()
    let server = GRPCServer(
        transport: HTTP2ServerTransport(host: "127.0.0.1", port: 0, configuration: serverConfiguration),
        services: [provider], interceptors: interceptors)
    let port = try await server.start()
    let live = LiveEchoServer(server: server, provider: provider, port: port)
    var clientConfiguration = clientConfiguration
    clientConfiguration.tls = clientTLS
    let grpc = GRPCClient(transport: HTTP2ClientTransport(host: host, port: port, configuration: clientConfiguration))
    let client = Echo_EchoClient(wrapping: grpc)
    return try await closing(grpc, live) { try await body(client, live) }
}

/// The `RPCError` that `body` throws, or nil when it throws none.
func rpcError(_ body: () async throws -> Void) async -> RPCError? {
    do {
        try await body()
        return nil
    } catch let error as RPCError {
        return error
    } catch {
        return nil
    }
}

/// A server interceptor that records the peer certificate subject each call's context carries.
final class PeerRecorder: ServerInterceptor {
    private let subjects = TSanMutex<[String?]>([])

    var seen: [String?] { subjects.withLock { $0 } }

    func intercept(
        request: ServerRequest, context: ServerContext, next: @Sendable (ServerRequest, ServerContext) async throws -> Void
    ) async throws {
        subjects.withLock { $0.append(context.transportInfo(as: HTTP2ConnectionInfo.self)?.peerCertificateSubject) }
        try await next(request, context)
    }
}
