import BreakwaterCore
import BreakwaterHTTP2
import EchoService

/// An `EchoProvider` served by a real `GRPCServer` over `HTTP2ServerTransport` on loopback.
struct LiveEchoServer {
    let server: GRPCServer
    let provider: EchoProvider
    let port: Int

    static func start(
        provider: EchoProvider = EchoProvider(),
        host: String = "127.0.0.1",
        port: Int = 0
    ) async throws -> LiveEchoServer {
        let server = GRPCServer(transport: HTTP2ServerTransport(host: host, port: port), services: [provider])
        let bound = try await server.start()
        return LiveEchoServer(server: server, provider: provider, port: bound)
    }

    func stop() async {
        await server.shutdownGracefully(gracePeriod: .seconds(2))
    }
}

/// Runs `body`, then closes `client` and stops `live`, whether `body` returned or threw.
func closing<Result>(
    _ client: GRPCClient, _ live: LiveEchoServer, after body: () async throws -> Result
) async throws -> Result {
    do {
        let result = try await body()
        await client.close()
        await live.stop()
        return result
    } catch {
        await client.close()
        await live.stop()
        throw error
    }
}

/// Runs `body` with an echo client connected over HTTP/2 on loopback to a live echo server.
@discardableResult
func withLiveEcho<Result>(
    provider: EchoProvider = EchoProvider(),
    clientConfiguration: HTTP2ClientTransport.Configuration = .init(),
    _ body: (Echo_EchoClient, LiveEchoServer) async throws -> Result
) async throws -> Result {
    let live = try await LiveEchoServer.start(provider: provider)
    let grpc = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: live.port, configuration: clientConfiguration))
    let client = Echo_EchoClient(wrapping: grpc)
    return try await closing(grpc, live) { try await body(client, live) }
}

/// The code of the `RPCError` that `body` throws, or nil when it does not throw one.
func rpcErrorCode(_ body: () async throws -> Void) async -> Status.Code? {
    do {
        try await body()
        return nil
    } catch let error as RPCError {
        return error.code
    } catch {
        return nil
    }
}
