import BreakwaterTestSupport
import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterResilience
import EchoService
import Testing

/// Retry and timeout of the standard chain, end to end over HTTP/2 against the echo server.
@Suite("Retry and timeout over HTTP/2 against the echo server", .timeLimit(.minutes(TestTime.minutes(1))))
struct RetryAndTimeoutOverHTTP2Tests {
    @Test("retries turn a fail-first-2 server into success on the third attempt")
    func failFirstTwoSucceedsOnTheThirdAttempt() async throws {
        let config = """
            {"methodConfig": [{"name": [{"service": "echo.Echo", "method": "Get"}],
              "retryPolicy": {"maxAttempts": 3, "initialBackoff": "1s", "maxBackoff": "10s",
                              "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]},
              "circuitBreakerPolicy": {"consecutiveFailures": 5}}]}
            """
        let clock = SteppingClock()
        try await withResilientEcho(faults: .init(failFirst: 2), config: config, clock: clock, random: { 1 }) { h async throws in
            async let answer = h.echo.get(request("hi"))
            // Full jitter with random 1: the ceilings, 1 s then 2 s, slept on the manual clock.
            await clock.waitForSleepers(atLeast: 1)
            clock.advance(by: .seconds(1))
            await clock.waitForSleepers(atLeast: 1)
            clock.advance(by: .seconds(2))
            #expect(try await answer.text == "hi")
            #expect(h.provider.callCount(.get) == 3)
            #expect(clock.requestedSleeps == [.seconds(1), .seconds(2)])
            // Each attempt is one breaker sample.
            let totals = h.breaker("Get")?.snapshot().totals
            #expect(totals?.failures == 2)
            #expect(totals?.successes == 1)
            #expect(h.state("Get") == .closed)
        }
    }

    @Test("a hang server yields DEADLINE_EXCEEDED on time, and the server sees the cancellation")
    func hangServerDeadline() async throws {
        let config = """
            {"methodConfig": [{"name": [{"service": "echo.Echo", "method": "Get"}], "timeout": "0.2s",
              "circuitBreakerPolicy": {"consecutiveFailures": 5}}]}
            """
        try await withResilientEcho(faults: .init(hang: true), config: config) { h async throws in
            let started = ContinuousClock.now
            let error = await caughtRPCError { _ = try await h.echo.get(request("x")) }
            let elapsed = started.duration(to: .now)
            #expect(error?.code == .deadlineExceeded)
            #expect(elapsed >= .milliseconds(200))
            // A safety bound: the call ends by the policy's deadline, not by the server (which never answers).
            #expect(elapsed < .seconds(5), "ended \(elapsed) after it started")
            // Bounded, so a lost cancellation fails the test instead of hanging it. A handler that had
            // not started by the deadline (a heavily loaded machine) is never called, so nothing to cancel.
            let sawCancellation = await h.provider.waitForCancellations(atLeast: 1, within: .seconds(10))
            #expect(sawCancellation || h.provider.callCount(.get) == 0)
            #expect(h.provider.cancellationCount == h.provider.callCount(.get))
            // The attempt's own deadline expired: a breaker failure.
            #expect(h.breaker("Get")?.snapshot().totals.failures == 1)
        }
    }

    @Test("the retry interceptor never outlives the deadline: a backoff past it is not slept")
    func retryNeverOutlivesTheDeadline() async throws {
        let config = """
            {"methodConfig": [{"name": [{"service": "echo.Echo", "method": "Get"}], "timeout": "30s",
              "retryPolicy": {"maxAttempts": 5, "initialBackoff": "10s", "maxBackoff": "100s",
                              "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]},
              "circuitBreakerPolicy": {"consecutiveFailures": 10}}]}
            """
        let clock = SteppingClock()
        try await withResilientEcho(faults: .init(failFirst: 100), config: config, clock: clock, random: { 1 }) { h async throws in
            let started = ContinuousClock.now
            // 30 s of deadline: the first backoff (10 s) fits; the second (20 s, with 10 s spent) would end
            // at the deadline, so it is not slept and the call ends with the last error.
            async let outcome = caughtRPCError { _ = try await h.echo.get(request("x")) }
            await clock.waitForSleepers(atLeast: 1)
            clock.advance(by: .seconds(10))
            let error = await outcome
            #expect(error?.code == .unavailable)
            #expect(error?.isCircuitBreakerRejection == false)
            #expect(h.provider.callCount(.get) == 2)
            #expect(clock.requestedSleeps == [.seconds(10)])
            #expect(clock.pendingSleepers == 0)
            #expect(started.duration(to: .now) < .seconds(10), "a safety bound: nothing waited for real")
        }
    }

    @Test(
        "connection refused: never reached the server, but not retried transparently; maxAttempts network attempts and breaker samples",
        arguments: [nil, 3])
    func connectFailureIsNotRetriedTransparently(maxAttempts: Int?) async throws {
        // Bind a port, then close it, so that nothing listens there.
        let gone = try await LiveEchoServer.start()
        let port = gone.port
        await gone.stop()

        let retry = maxAttempts.map {
            #", "retryPolicy": {"maxAttempts": \#($0), "initialBackoff": "0.01s", "maxBackoff": "0.01s", "backoffMultiplier": 1, "retryableStatusCodes": ["UNAVAILABLE"]}"#
        } ?? ""
        let config = """
            {"methodConfig": [{"name": [{"service": "echo.Echo", "method": "Get"}],
              "circuitBreakerPolicy": {"consecutiveFailures": 5}\(retry)}]}
            """
        // The real clock: the retries' 10 ms backoffs simply pass.
        let resilience = try ResilienceConfiguration.serviceConfig(json: config, target: "down")
        let attempts = AttemptRecorder()
        // A short reconnect backoff, so that retries meet the refused port rather than only the backoff.
        var configuration = HTTP2ClientTransport.Configuration()
        configuration.backoff = .init(initial: .milliseconds(1), multiplier: 1, maximum: .milliseconds(1), jitter: 0)
        let grpc = GRPCClient(
            transport: HTTP2ClientTransport(host: "127.0.0.1", port: port, configuration: configuration),
            resilience: resilience, interceptors: [.apply(attempts, to: .all)])
        let error = await caughtRPCError { _ = try await Echo_EchoClient(wrapping: grpc).get(request("x")) }
        await grpc.close()

        #expect(error?.code == .unavailable)
        #expect(error?.neverReachedServer == true)
        #expect(error?.connectionNeverEstablished == true)
        #expect(error?.isCircuitBreakerRejection == false)
        // One attempt per attempt of the policy (1 without one): no transparent extra.
        let expected = maxAttempts ?? 1
        #expect(attempts.attempts == expected)
        #expect(attempts.errors.allSatisfy { $0.neverReachedServer && $0.code == .unavailable })
        // Each attempt passed the breaker once (it sits inside the retry interceptor).
        let breaker = resilience.registry.existingBreaker(
            for: BreakerKey(target: "down", service: "echo.Echo", method: "Get"))
        let totals = try #require(breaker).snapshot().totals
        #expect(totals.failures + totals.neutral == expected)
    }
}
