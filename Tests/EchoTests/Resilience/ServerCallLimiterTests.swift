import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterResilience
import BreakwaterTestSupport
import EchoService
import Testing

/// Load shedding on a real server: the calls over a method's limit are refused at once, before their
/// handler runs, and admitted again once the running ones end.
@Suite("ServerCallLimiter over HTTP/2", .timeLimit(.minutes(TestTime.minutes(1))))
struct ServerCallLimiterTests {
    static let get = Echo_Echo.Method.Get.descriptor

    func withLimitedServer(
        _ limiter: ServerCallLimiter, _ body: (Echo_Echo.Client, EchoProvider) async throws -> Void
    ) async throws {
        let provider = EchoProvider()
        let server = GRPCServer(
            transport: HTTP2ServerTransport(host: "127.0.0.1", port: 0), services: [provider], interceptors: [limiter])
        let port = try await server.start()
        let client = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: port))
        do {
            try await body(Echo_Echo.Client(wrapping: client), provider)
        } catch {
            await client.close()
            await server.shutdownGracefully(gracePeriod: .seconds(1))
            throw error
        }
        await client.close()
        await server.shutdownGracefully(gracePeriod: .seconds(1))
    }

    /// Waits (up to 5 s, polling) until `count` reaches `target`.
    func waitFor(_ target: Int, _ count: () -> Int) async -> Bool {
        for _ in 0..<500 where count() < target { try? await Task.sleep(for: .milliseconds(10)) }
        return count() >= target
    }

    @Test("over the limit: RESOURCE_EXHAUSTED at once, the handler never runs; under it again once calls end")
    func refusesTheExcess() async throws {
        let limiter = try ServerCallLimiter(limits: [MethodKey(Self.get): 2])
        try await withLimitedServer(limiter) { echo, provider in
            let slow = (0..<2).map { _ in
                Task { try await echo.get(.with { $0.text = "sleep:1500" }) }
            }
            #expect(await waitFor(2) { limiter.inFlight(Self.get) })
            do {
                _ = try await echo.get(.with { $0.text = "x" })
                Issue.record("a third call was admitted")
            } catch let error as RPCError {
                #expect(error.code == .resourceExhausted)
                #expect(error.message == "echo.Echo/Get is at its limit of 2 concurrent calls")
            }
            #expect(limiter.inFlight(Self.get) == 2)  // refused while the slow ones run, not queued behind them
            #expect(provider.callCount(.get) == 2)
            // Other methods have no limit here.
            #expect(try await echo.collect { try await $0.write(.with { $0.text = "c" }) }.text == "c")
            for task in slow { #expect(try await task.value.text == "sleep:1500") }
            #expect(limiter.inFlight(Self.get) == 0)
            #expect(try await echo.get(.with { $0.text = "y" }).text == "y")
        }
    }

    @Test("UNAVAILABLE with a pushback trailer, which a retrying client waits out")
    func pushback() async throws {
        let limiter = try ServerCallLimiter(defaultLimit: 1, rejection: .unavailable(pushback: .milliseconds(250)))
        try await withLimitedServer(limiter) { echo, _ in
            let slow = Task { try await echo.get(.with { $0.text = "sleep:1500" }) }
            #expect(await waitFor(1) { limiter.inFlight(Self.get) })
            do {
                _ = try await echo.get(.with { $0.text = "x" })
                Issue.record("a second call was admitted")
            } catch let error as RPCError {
                #expect(error.code == .unavailable)
                #expect(error.metadata[stringValues: RetryPushback.metadataKey] == ["250"])
            }
            _ = try await slow.value
        }
    }

    @Test("limits below 1 are configuration errors naming the entry")
    func invalidLimits() {
        #expect(throws: ConfigurationError(path: #"limits["echo.Echo/Get"]"#, value: "0", reason: "is not >= 1")) {
            try ServerCallLimiter(limits: [MethodKey(Self.get): 0])
        }
        #expect(throws: ConfigurationError(path: "defaultLimit", value: "-1", reason: "is not >= 1")) {
            try ServerCallLimiter(defaultLimit: -1)
        }
    }
}
