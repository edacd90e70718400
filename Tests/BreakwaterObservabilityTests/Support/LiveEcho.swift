import BreakwaterCore
import BreakwaterHTTP2
import EchoService

/// An echo server on loopback (port 0) with `serverInterceptors`, and a client to it with
/// `interceptors`; both are closed after `body`, whether it returned or threw.
func withLoopbackEcho<Result>(
    provider: EchoProvider = EchoProvider(),
    serverInterceptors: [any ServerInterceptor] = [],
    interceptors: [ConditionalInterceptor<any ClientInterceptor>] = [],
    _ body: (Echo_EchoClient, GRPCClient) async throws -> Result
) async throws -> Result {
    let server = GRPCServer(
        transport: HTTP2ServerTransport(host: "127.0.0.1", port: 0), services: [provider],
        interceptors: serverInterceptors)
    let port = try await server.start()
    let grpc = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: port), interceptors: interceptors)
    do {
        let result = try await body(Echo_EchoClient(wrapping: grpc), grpc)
        await grpc.close()
        await server.shutdownGracefully(gracePeriod: .seconds(2))
        return result
    } catch {
        await grpc.close()
        await server.shutdownGracefully(gracePeriod: .seconds(2))
        throw error
    }
}

func echoRequest(_ text: String) -> Echo_EchoRequest {
    Echo_EchoRequest.with { $0.text = text }
}

