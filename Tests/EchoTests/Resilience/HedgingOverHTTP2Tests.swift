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

    /// A live echo server whose server calls are slow (an hour, cancellable) where `slow` says, by call
    /// number from 1 across methods, and a client hedging every echo method after 50 ms on `clock`, with a
    /// retry buffer of `retryBufferBytes`.
    func withSlowCalls(
        _ slow: @escaping @Sendable (Int) -> Bool, clock: SteppingClock, retryBufferBytes: Int = 256 * 1024,
        _ body: (Echo_EchoClient, EchoProvider) async throws -> Void
    ) async throws {
        let draws = TSanMutex(0)
        let provider = EchoProvider(faults: .init(slowRate: 0.5, slowDelay: .seconds(3600))) {
            let n = draws.withLock { n in
                n += 1
                return n
            }
            return slow(n) ? 0 : 0.99
        }
        let resilience = try ResilienceConfiguration.serviceConfig(json: Self.config, target: "echo", clock: clock)
        let live = try await LiveEchoServer.start(provider: provider)
        let grpc = GRPCClient(
            transport: HTTP2ClientTransport(host: "127.0.0.1", port: live.port), resilience: resilience,
            retryBufferBytes: retryBufferBytes)
        try await closing(grpc, live) { () async throws in try await body(Echo_EchoClient(wrapping: grpc), provider) }
    }

    @Test("a client-streaming call whose first attempt stalls is answered by the hedge, which replays the request and follows its live writes")
    func clientStreamingHedgeWins() async throws {
        let clock = SteppingClock()
        try await withSlowCalls({ $0 == 1 }, clock: clock) { echo, provider async throws in
            let (gate, open) = AsyncStream.makeStream(of: Void.self)
            let (produced, producerEnded) = AsyncStream.makeStream(of: Void.self)
            async let joined = echo.collect { writer in
                defer { producerEnded.yield() }
                try await writer.write(request("a"))
                for await _ in gate { break }
                try await writer.write(request("b"))
            }
            await provider.waitForCalls(atLeast: 1)
            await clock.waitForSleepers(atLeast: 1)
            clock.advance(by: .milliseconds(50))
            await provider.waitForCalls(atLeast: 2)
            // The hedge has replayed "a"; "b" is written live, to both attempts.
            open.yield()
            #expect(try await joined.text == "a b")
            #expect(provider.callCount(.collect) == 2)
            // The stalled attempt was cancelled, and the producer ran once and ended: nothing is left running.
            #expect(await provider.waitForCancellations(atLeast: 1, within: .seconds(10)))
            for await _ in produced { break }
        }
    }

    @Test("a bidirectional call whose first attempt stalls before its headers is answered by the hedge")
    func bidirectionalHedgeWins() async throws {
        let clock = SteppingClock()
        try await withSlowCalls({ $0 == 1 }, clock: clock) { echo, provider async throws in
            async let texts = updateTexts(echo, ["1", "2"])
            await provider.waitForCalls(atLeast: 1)
            await clock.waitForSleepers(atLeast: 1)
            clock.advance(by: .milliseconds(50))
            #expect(try await texts == ["1", "2"])
            #expect(provider.callCount(.update) == 2)
            #expect(await provider.waitForCancellations(atLeast: 1, within: .seconds(10)))
        }
    }

    @Test("past the retry buffer the call is committed to the attempt that sent the most: the other is cancelled and no hedge follows")
    func bufferLimitCommits() async throws {
        let clock = SteppingClock()
        // The first attempt's server is fast (it joins the texts once the request ends), the hedge's stalls.
        try await withSlowCalls({ $0 == 2 }, clock: clock, retryBufferBytes: 1024) { echo, provider async throws in
            let (gate, open) = AsyncStream.makeStream(of: Void.self)
            let big = String(repeating: "x", count: 2000)
            async let joined = echo.collect { writer in
                try await writer.write(request("a"))
                var gates = gate.makeAsyncIterator()
                await gates.next()
                // One message past the buffer limit: the request is committed on this write, with both
                // attempts having sent "a" (or the hedge not yet): to the first attempt.
                try await writer.write(request(big))
                // The request stays open, so the call is still in flight when the next hedge is due.
                await gates.next()
                try await writer.write(request("z"))
            }
            await provider.waitForCalls(atLeast: 1)
            await clock.waitForSleepers(atLeast: 1)
            clock.advance(by: .milliseconds(50))
            await provider.waitForCalls(atLeast: 2)
            open.yield()
            // The hedge, stalled, is cancelled at once, though the first attempt has not answered yet.
            #expect(await provider.waitForCancellations(atLeast: 1, within: .seconds(10)))
            // The third attempt's delay passes while the call is in flight: no hedge once committed.
            await clock.waitForSleepers(atLeast: 1)
            clock.advance(by: .milliseconds(50))
            open.yield()
            #expect(try await joined.text == "a \(big) z")
            #expect(provider.callCount(.collect) == 2)
        }
    }
}
