import BreakwaterTestSupport
import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterResilience
import EchoService
import Testing

/// The circuit breaker of the standard chain, end to end: a real echo server with fault injection on
/// loopback, the real HTTP/2 client transport, breaker time on a manual clock.
@Suite("Circuit breaker over HTTP/2 against the echo server", .timeLimit(.minutes(TestTime.minutes(1))))
struct BreakerOverHTTP2Tests {
    /// Get: 3 consecutive failures open the breaker for 10 s, 2 probes close it; no retry, so that every
    /// call is exactly one breaker sample.
    static let getBreaker = """
        {"methodConfig": [{
          "name": [{"service": "echo.Echo", "method": "Get"}],
          "circuitBreakerPolicy": {"consecutiveFailures": 3, "openDuration": "10s", "successThreshold": 2}
        }]}
        """

    @Test("the breaker opens after the configured failures, then rejects without the server seeing a call")
    func opensThenRejectsWithoutTheServer() async throws {
        try await withResilientEcho(faults: .init(failFirst: 100), config: Self.getBreaker) { h async throws in
            for i in 1...3 {
                let error = await caughtRPCError { _ = try await h.echo.get(request("x")) }
                #expect(error?.code == .unavailable, "call \(i)")
                #expect(error?.isCircuitBreakerRejection == false, "call \(i) reached the server")
            }
            #expect(h.provider.callCount(.get) == 3)
            #expect(h.state("Get") == .open)

            for _ in 1...10 {
                let started = ContinuousClock.now
                let rejected = await caughtRPCError { _ = try await h.echo.get(request("x")) }
                // A safety bound only: a rejection does no network I/O and takes microseconds.
                #expect(started.duration(to: .now) < .seconds(1))
                #expect(rejected?.code == .unavailable)
                #expect(rejected?.isCircuitBreakerRejection == true)
                #expect(rejected?.message == "circuit breaker 'echo/echo.Echo/Get' is OPEN; next probe in 10.0 s")
                let rejection = rejected?.cause as? CircuitBreakerRejection
                #expect(rejection?.key == BreakerKey(target: "echo", service: "echo.Echo", method: "Get"))
                #expect(rejection?.retryAfter == .seconds(10))
            }
            // The server never saw the rejected calls.
            #expect(h.provider.callCount(.get) == 3)
            #expect(h.provider.totalCallCount == 3)
            #expect(h.breaker("Get")?.snapshot().totals.rejected == 10)
        }
    }

    @Test("after the open duration it probes; a failed probe reopens; it closes once the server recovers")
    func probesAndClosesAfterRecovery() async throws {
        let clock = SteppingClock()
        // The first 4 calls fail: 3 trip the breaker, the first probe fails and reopens it.
        try await withResilientEcho(faults: .init(failFirst: 4), config: Self.getBreaker, clock: clock) { h async throws in
            let events = h.resilience.registry.events()
            for _ in 1...3 { _ = await caughtRPCError { _ = try await h.echo.get(request("x")) } }
            #expect(h.state("Get") == .open)

            clock.advance(by: .milliseconds(9_900))
            let early = await caughtRPCError { _ = try await h.echo.get(request("x")) }
            #expect(early?.isCircuitBreakerRejection == true)
            #expect(early?.message.hasSuffix("next probe in 0.1 s") == true)
            #expect(h.provider.callCount(.get) == 3)

            clock.advance(by: .milliseconds(100))
            let failedProbe = await caughtRPCError { _ = try await h.echo.get(request("x")) }
            #expect(failedProbe?.isCircuitBreakerRejection == false)
            #expect(h.provider.callCount(.get) == 4)
            #expect(h.state("Get") == .open)

            clock.advance(by: .seconds(10))
            #expect(try await h.echo.get(request("a")).text == "a")
            #expect(h.state("Get") == .halfOpen)
            #expect(try await h.echo.get(request("b")).text == "b")
            #expect(h.state("Get") == .closed)
            #expect(h.provider.callCount(.get) == 6)

            #expect(
                await transitions(events, count: 5) == [
                    "CLOSED->OPEN", "OPEN->HALF_OPEN", "HALF_OPEN->OPEN", "OPEN->HALF_OPEN", "HALF_OPEN->CLOSED",
                ])
        }
    }

    @Test("breakers of two methods are independent")
    func twoMethodsAreIndependent() async throws {
        // Get trips after 2 failures, Expand after 3; the server fails the first 2 calls of each method.
        let config = """
            {"methodConfig": [
              {"name": [{"service": "echo.Echo", "method": "Get"}],
               "circuitBreakerPolicy": {"consecutiveFailures": 2, "openDuration": "30s"}},
              {"name": [{"service": "echo.Echo", "method": "Expand"}],
               "circuitBreakerPolicy": {"consecutiveFailures": 3, "openDuration": "30s"}}
            ]}
            """
        try await withResilientEcho(faults: .init(failFirst: 2), config: config) { h async throws in
            for _ in 1...2 { _ = await caughtRPCError { _ = try await h.echo.get(request("x")) } }
            #expect(h.state("Get") == .open)

            // Expand's own breaker sees its own two failures only, stays CLOSED, and lets the third call
            // through, while Get's breaker still rejects.
            for _ in 1...2 {
                let error = await caughtRPCError { _ = try await expandTexts(h.echo, "a b") }
                #expect(error?.code == .unavailable)
                #expect(error?.isCircuitBreakerRejection == false)
            }
            #expect(h.state("Expand") == .closed)
            #expect(try await expandTexts(h.echo, "a b") == ["a", "b"])
            #expect(h.provider.callCount(.expand) == 3)

            let rejected = await caughtRPCError { _ = try await h.echo.get(request("x")) }
            #expect(rejected?.isCircuitBreakerRejection == true)
            #expect(h.provider.callCount(.get) == 2)

            let states = h.resilience.breakerSnapshots().map { "\($0.key.method ?? "*")=\($0.state)" }
            #expect(states == ["Expand=CLOSED", "Get=OPEN"])
        }
    }

    @Test("streaming calls through the chain are recorded by the breaker")
    func streamingCallsAreRecorded() async throws {
        // Expand: consecutive failures; Update: failure rate over a count window.
        let config = """
            {"methodConfig": [
              {"name": [{"service": "echo.Echo", "method": "Expand"}],
               "circuitBreakerPolicy": {"consecutiveFailures": 2, "openDuration": "30s"}},
              {"name": [{"service": "echo.Echo", "method": "Update"}],
               "circuitBreakerPolicy": {"consecutiveFailures": 0, "failureRateThreshold": 0.5,
                                        "slidingWindow": {"type": "COUNT", "size": 10}, "minimumCalls": 2,
                                        "openDuration": "30s"}}
            ]}
            """
        // Healthy server: whole streams count as successes once they end OK.
        try await withResilientEcho(config: config) { h async throws in
            #expect(try await expandTexts(h.echo, "one two three") == ["one", "two", "three"])
            #expect(try await updateTexts(h.echo, ["x", "y"]) == ["x", "y"])
            #expect(h.breaker("Expand")?.snapshot().totals.successes == 1)
            #expect(h.breaker("Update")?.snapshot().totals.successes == 1)
            #expect(h.breaker("Update")?.snapshot().windowCalls == 1)
        }
        // Failing server: both streaming breakers open and then reject without a call to the server.
        try await withResilientEcho(faults: .init(failFirst: 100), config: config) { h async throws in
            for _ in 1...2 {
                #expect(await caughtRPCError { _ = try await expandTexts(h.echo, "a") }?.code == .unavailable)
                #expect(await caughtRPCError { _ = try await updateTexts(h.echo, ["a"]) }?.code == .unavailable)
            }
            #expect(h.state("Expand") == .open)
            #expect(h.state("Update") == .open)
            #expect(h.breaker("Update")?.snapshot().windowFailures == 2)

            let expand = await caughtRPCError { _ = try await expandTexts(h.echo, "a") }
            let update = await caughtRPCError { _ = try await updateTexts(h.echo, ["a"]) }
            #expect(expand?.isCircuitBreakerRejection == true)
            #expect(update?.isCircuitBreakerRejection == true)
            #expect(h.provider.callCount(.expand) == 2)
            #expect(h.provider.callCount(.update) == 2)
        }
    }

    @Test("the fallback answers while the breaker is OPEN, and the server is not called")
    func fallbackWhenOpen() async throws {
        let cached = try encodedResponse("cached")
        let config = """
            {"methodConfig": [{"name": [{"service": "echo.Echo"}],
              "circuitBreakerPolicy": {"consecutiveFailures": 1, "openDuration": "30s"}}]}
            """
        let fallback: CircuitBreakerInterceptor.Fallback = { rejection, context in
            // Get answers from the "cache"; other methods fail with the rejection.
            guard context.descriptor == Echo_Echo.Method.Get.descriptor else { return nil }
            #expect(rejection.state == .open)
            #expect(rejection.key.method == "Get")
            return ClientResponse(messages: [cached])
        }
        try await withResilientEcho(faults: .init(failFirst: 1), config: config, fallback: fallback) { h async throws in
            let first = await caughtRPCError { _ = try await h.echo.get(request("x")) }
            #expect(first?.isCircuitBreakerRejection == false)
            #expect(h.state("Get") == .open)

            #expect(try await h.echo.get(request("y")).text == "cached")
            #expect(try await h.echo.get(request("z")).text == "cached")
            #expect(h.provider.callCount(.get) == 1)
            #expect(h.breaker("Get")?.snapshot().totals.rejected == 2)

            // Expand has its own breaker (method scope): trip it, then its fallback declines.
            _ = await caughtRPCError { _ = try await expandTexts(h.echo, "a") }
            let declined = await caughtRPCError { _ = try await expandTexts(h.echo, "a") }
            #expect(declined?.isCircuitBreakerRejection == true)
            #expect(h.provider.callCount(.expand) == 1)
        }
    }
}
