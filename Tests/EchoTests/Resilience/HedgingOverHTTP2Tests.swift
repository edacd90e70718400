import BreakwaterTestSupport
@_spi(Locking) import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterResilience
import EchoService
import Testing

/// Hedging in the standard chain, end to end over HTTP/2 against the echo server.
@Suite("Hedging over HTTP/2 against the echo server", .timeLimit(.minutes(TestTime.minutes(1))))
struct HedgingOverHTTP2Tests {
    static let config = """
        {"methodConfig": [{"name": [{"service": "echo.Echo"}], "timeout": "30s",
          "hedgingPolicy": {"maxAttempts": 3, "hedgingDelay": "0.05s", "nonFatalStatusCodes": ["UNAVAILABLE"]},
          "circuitBreakerPolicy": {"consecutiveFailures": 5}}],
         "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1}}
        """

    /// Runs `body` with a live echo server whose first call is slow (an hour, cancellable) and the rest
    /// fast, and a client whose chain hedges every echo method after 50 ms on `clock`.
    func withSlowFirstCall(
        clock: SteppingClock, _ body: (Echo_EchoClient, EchoProvider, ResilienceConfiguration) async throws -> Void
    ) async throws {
        let draws = TSanMutex(0)
        // The provider draws once per call for slowRate: 0 (slow) for the first call, 0.99 (fast) after.
        let provider = EchoProvider(faults: .init(slowRate: 0.5, slowDelay: .seconds(3600))) {
            draws.withLock { n in
                n += 1
                return n == 1 ? 0 : 0.99
            }
        }
        let resilience = try ResilienceConfiguration.serviceConfig(json: Self.config, target: "echo", clock: clock)
        let live = try await LiveEchoServer.start(provider: provider)
        let grpc = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: live.port), resilience: resilience)
        try await closing(grpc, live) { try await body(Echo_EchoClient(wrapping: grpc), provider, resilience) }
    }

    @Test("a unary call whose first attempt is slow is answered by the hedge; the slow handler is cancelled")
    func unaryHedgeWins() async throws {
        let clock = SteppingClock()
        try await withSlowFirstCall(clock: clock) { echo, provider, resilience in
            async let answer = echo.get(request("hi"))
            await provider.waitForCalls(atLeast: 1)
            await clock.waitForSleepers(atLeast: 1)
            #expect(provider.callCount(.get) == 1)
            clock.advance(by: .milliseconds(50))
            let text = try await answer.text
            #expect(text == "hi")
            #expect(await provider.waitForCancellations(atLeast: 1, within: .seconds(10)))
            #expect(provider.callCount(.get) == 2)
            let key = BreakerKey(target: "echo", service: "echo.Echo", method: "Get")
            let totals = resilience.registry.existingBreaker(for: key)?.snapshot().totals
            #expect(totals?.successes == 1)
            #expect(totals?.failures == 0)
            // The success put tokens back; the cancelled loser took none.
            #expect(resilience.retryThrottle?.tokens == 10)
        }
    }

    @Test("a server-streaming call commits to the attempt that got response headers first")
    func streamingHedgeWins() async throws {
        let clock = SteppingClock()
        try await withSlowFirstCall(clock: clock) { echo, provider, _ in
            async let texts = expandTexts(echo, "a b c")
            await provider.waitForCalls(atLeast: 1)
            await clock.waitForSleepers(atLeast: 1)
            clock.advance(by: .milliseconds(50))
            let received = try await texts
            #expect(received == ["a", "b", "c"])
            #expect(await provider.waitForCancellations(atLeast: 1, within: .seconds(10)))
            #expect(provider.callCount(.expand) == 2)
        }
    }
}
