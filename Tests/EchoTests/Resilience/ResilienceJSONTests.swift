import BreakwaterTestSupport
import BreakwaterCore
import BreakwaterResilience
import EchoService
import Foundation
import Testing

/// `Examples/echo/resilience.json`, the config the echo-client demo uses.
@Suite("Examples/echo/resilience.json", .timeLimit(.minutes(TestTime.minutes(1))))
struct ResilienceJSONTests {
    /// The shipped file, found from this source file's path.
    static let path = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Resilience
        .deletingLastPathComponent()  // EchoTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // the package
        .appendingPathComponent("Examples/echo/resilience.json").path

    @Test("loads without error and gives Get and Update different policies")
    func loadsWithDifferentPoliciesForGetAndUpdate() throws {
        let resilience = try ResilienceConfiguration.serviceConfig(file: Self.path, target: "echo")
        let policies = resilience.policies

        let get = try #require(policies.policy(for: Echo_Echo.Method.Get.descriptor))
        #expect(get.timeout == .seconds(2))
        let retry = try #require(get.retry)
        #expect(retry.maxAttempts == 3)
        #expect(retry.retryableStatusCodes == [.unavailable])
        #expect(retry.initialBackoff < .seconds(1))
        let getBreaker = try #require(get.circuitBreaker)
        #expect(getBreaker.consecutiveFailures == 3)
        #expect(getBreaker.openDuration == .seconds(2))
        #expect(getBreaker.successThreshold == 2)

        let update = try #require(policies.policy(for: Echo_Echo.Method.Update.descriptor))
        #expect(update.timeout == .seconds(10))
        #expect(update.retry == nil)
        let updateBreaker = try #require(update.circuitBreaker)
        #expect(updateBreaker.consecutiveFailures == nil)
        #expect(updateBreaker.failureRateThreshold == 0.5)
        #expect(updateBreaker.slidingWindow == .count(10))
        #expect(update != get)

        // The other methods take the service-wide entry.
        let expand = try #require(policies.policy(for: Echo_Echo.Method.Expand.descriptor))
        #expect(expand.timeout == .seconds(5))
        #expect(expand.circuitBreaker?.consecutiveFailures == 5)

        #expect(resilience.retryThrottling == RetryThrottlingPolicy(maxTokens: 10, tokenRatio: 0.1))
    }

    @Test("drives the demo's whole breaker cycle against a fail-first server")
    func demoCycle() async throws {
        var config = try ServiceConfig(json: Data(contentsOf: URL(fileURLWithPath: Self.path)))
        // The 2 s timeout of Get runs on real time, which is not this test's subject (the hang-server test
        // covers timeouts): a loaded CI machine must not turn a slow first call into DEADLINE_EXCEEDED.
        let get = MethodKey(service: "echo.Echo", method: "Get")
        #expect(config.policies.entries[get]?.timeout == .seconds(2))
        config.policies.entries[get]?.timeout = nil
        let clock = SteppingClock()
        // As `scripts/breaker-demo.sh`: the server fails the first 4 Get calls, then recovers.
        // Backoffs are zero (random 0), so only the breaker's time is on the manual clock.
        try await withResilientEcho(
            faults: .init(failFirst: 4), serviceConfig: config, clock: clock, random: { 0 }
        ) { h async throws in
            let events = h.resilience.registry.events()

            // Call 1: three attempts fail; the third failure in a row opens the breaker.
            let first = await caughtRPCError { _ = try await h.echo.get(request("x")) }
            #expect(first?.isCircuitBreakerRejection == false, "\(String(describing: first))")
            #expect(h.provider.callCount(.get) == 3, "call 1 ended with \(String(describing: first))")
            #expect(h.state("Get") == .open)

            // While OPEN: rejected without a call to the server.
            let rejected = await caughtRPCError { _ = try await h.echo.get(request("x")) }
            #expect(rejected?.message == "circuit breaker 'echo/echo.Echo/Get' is OPEN; next probe in 2.0 s")
            #expect(h.provider.callCount(.get) == 3)

            // After 2 s: the probe fails (server call 4), the breaker reopens, and the retry's next attempt
            // is rejected (a rejection is never retried).
            clock.advance(by: .seconds(2))
            let probe = await caughtRPCError { _ = try await h.echo.get(request("x")) }
            #expect(probe?.isCircuitBreakerRejection == true)
            #expect(h.provider.callCount(.get) == 4)
            #expect(h.state("Get") == .open)

            // After 2 s more the server has recovered: two probes succeed and close the breaker.
            clock.advance(by: .seconds(2))
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
}
