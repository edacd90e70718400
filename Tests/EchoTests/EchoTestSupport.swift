import BreakwaterCore
import EchoService

/// Runs `body` with an Echo client and an `EchoProvider` server connected in memory.
@discardableResult
func withEcho<Result>(
    provider: EchoProvider = EchoProvider(),
    options: CallOptions = .defaults,
    _ body: (Echo_EchoClient, EchoProvider) async throws -> Result
) async throws -> Result {
    let transport = InProcessTransport()
    let server = GRPCServer(transport: transport.server, services: [provider])
    _ = try await server.start()
    let grpc = GRPCClient(transport: transport.client, defaultOptions: options)
    let client = Echo_EchoClient(wrapping: grpc)
    do {
        let result = try await body(client, provider)
        await grpc.close()
        await server.shutdownGracefully(gracePeriod: .seconds(5))
        return result
    } catch {
        await grpc.close()
        await server.shutdownGracefully(gracePeriod: .seconds(5))
        throw error
    }
}

func request(_ text: String) -> Echo_EchoRequest {
    Echo_EchoRequest.with { $0.text = text }
}
