import BreakwaterCore
import BreakwaterHTTP2
import EchoService
import Testing

/// The README's API sample, kept compiling and true: if this changes, change the README with it.
@Suite("README sample", .timeLimit(.minutes(1)))
struct ReadmeSampleTests {
    @Test func theSampleRuns() async throws {
        // Server: services on a port (0 picks a free one).
        let server = GRPCServer(transport: HTTP2ServerTransport(host: "127.0.0.1", port: 0),
                                services: [EchoProvider()])
        let port = try await server.start()

        // Client: a target and options.
        let client = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: port))
        let echo = Echo_EchoClient(wrapping: client)

        let reply = try await echo.get(.with { $0.text = "hi" }, options: CallOptions(timeout: .seconds(1)))
        var words: [String] = []
        for try await word in try await echo.expand(.with { $0.text = "a b c" }) { words.append(word.text) }
        let joined = try await echo.collect { writer in
            try await writer.write(.with { $0.text = "x" })
            try await writer.write(.with { $0.text = "y" })
        }
        let echoes = try await echo.update { writer in
            for t in ["1", "2"] { try await writer.write(.with { $0.text = t }) }
        }
        var echoed: [String] = []
        for try await e in echoes { echoed.append(e.text) }
        await client.close()
        await server.shutdownGracefully(gracePeriod: .seconds(5))

        #expect(reply.text == "hi")
        #expect(words == ["a", "b", "c"])
        #expect(joined.text == "x y")
        #expect(echoed == ["1", "2"])
    }
}
