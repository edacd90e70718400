import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterResilience
import BreakwaterTestSupport
import EchoService
import Testing

/// The README's API sample, kept compiling and true: if this changes, change the README with it.
@Suite("README sample", .timeLimit(.minutes(TestTime.minutes(1))))
struct ReadmeSampleTests {
    @Test func theSampleRuns() async throws {
        // Server: services on a port (0 picks a free one).
        let server = GRPCServer(transport: HTTP2ServerTransport(host: "127.0.0.1", port: 0),
                                services: [EchoProvider()])
        let port = try await server.start()

        // Client: a target and options.
        let client = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: port))
        let echo = Echo_Echo.Client(wrapping: client)

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

    @Test func theResilienceSampleRuns() async throws {
        let live = try await LiveEchoServer.start()
        let port = live.port
        let file = PythonPeer.interopDirectory.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Examples/echo/resilience.json").path

        let resilience = try ResilienceConfiguration.serviceConfig(file: file, target: "echo")
        let client = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: port), resilience: resilience)

        let reply = try await Echo_EchoClient(wrapping: client).get(.with { $0.text = "through the chain" })
        #expect(reply.text == "through the chain")
        #expect(resilience.breakerSnapshots().map(\.state) == [.closed])
        await client.close()
        await live.stop()
    }

    @Test func theStandaloneBreakerSampleRuns() async throws {
        struct DatabaseDown: Error {}
        struct Database { func fetch(_ id: Int) async throws -> String { throw DatabaseDown() } }
        let database = Database()
        let cachedItem = "cached"
        let id = 7

        let breaker = try CircuitBreaker(name: "inventory-db", policy: CircuitBreakerPolicy())
        // Five failures trip the classic rule; then the fallback answers without calling the database.
        for _ in 0..<5 { _ = try? await breaker.run { try await database.fetch(id) } }
        let item = try await breaker.run(fallback: { _ in cachedItem }) { try await database.fetch(id) }
        #expect(item == "cached")
        #expect(breaker.currentState == .open)
    }
}
