import BreakwaterTestSupport
import BreakwaterCore
import Testing

@testable import BreakwaterResilience

private let policy = RetryPolicy(
    maxAttempts: 4, initialBackoff: .milliseconds(100), maxBackoff: .seconds(1),
    backoffMultiplier: 3, retryableStatusCodes: [.unavailable]
)

@Suite("Retry arithmetic")
struct RetryTests {
    @Test("backoff ceilings grow by the multiplier and stop at maxBackoff")
    func ceilings() {
        #expect((1...5).map(policy.backoffCeiling(forRetry:)) == [
            .milliseconds(100), .milliseconds(300), .milliseconds(900), .seconds(1), .seconds(1),
        ])
        #expect(policy.backoffCeiling(forRetry: 10_000) == .seconds(1))
    }

    /// Found by the service-config fuzz target: `backoffMultiplier: 1e300` passes validation, and the
    /// second retry then multiplied the backoff past what a Duration holds, which traps. An exit test,
    /// so a trap fails one test.
    @Test("a huge multiplier reaches maxBackoff instead of trapping (exit test)")
    func hugeMultiplier() async {
        await #expect(processExitsWith: .success) {
            let policy = RetryPolicy(
                maxAttempts: 5, initialBackoff: .milliseconds(100), maxBackoff: .seconds(999_999_999_999),
                backoffMultiplier: 1e300, retryableStatusCodes: [.unavailable])
            precondition(policy.backoffCeiling(forRetry: 1) == .milliseconds(100))
            precondition(policy.backoffCeiling(forRetry: 2) == .seconds(999_999_999_999))
            // Full jitter multiplies by a Double, exact only to its 53 bits.
            let backoff = policy.backoff(forRetry: 4, random: 1)
            precondition(backoff > .seconds(999_999_999_998) && backoff < .seconds(1_000_000_000_000))
        }
    }

    @Test("full jitter stays within [0, ceiling] over many seeded draws")
    func jitterBounds() {
        var rng = SeededRandom(seed: 42)
        for n in 1...6 {
            let ceiling = policy.backoffCeiling(forRetry: n)
            var lowest = ceiling
            var highest = Duration.zero
            for _ in 0..<2000 {
                let b = policy.backoff(forRetry: n, using: &rng)
                #expect(b >= .zero && b <= ceiling)
                lowest = min(lowest, b)
                highest = max(highest, b)
            }
            // Full jitter really spreads over the range.
            #expect(lowest < ceiling * 0.05)
            #expect(highest > ceiling * 0.95)
        }
        #expect(policy.backoff(forRetry: 2, random: 0) == .zero)
        #expect(policy.backoff(forRetry: 2, random: 1) == .milliseconds(300))
        #expect(policy.backoff(forRetry: 2, random: 0.5) == .milliseconds(150))
    }

    @Test("maxAttempts is capped at 5")
    func cap() {
        var p = RetryPolicy(maxAttempts: 9, initialBackoff: .seconds(1), maxBackoff: .seconds(1),
                            backoffMultiplier: 1, retryableStatusCodes: [.unavailable])
        #expect(p.maxAttempts == 5)
        p.maxAttempts = 7
        #expect(p.maxAttempts == 5)
    }

    @Test("decisions: attempts, codes, commit, breaker rejection, pushback, throttle, deadline")
    func decisions() {
        var s = RetryState(policy: policy)
        #expect(s.previousAttempts == 0)
        #expect(s.decide(after: .unavailable, random: 1) == .retry(after: .milliseconds(100)))
        #expect(s.previousAttempts == 1)
        #expect(s.decide(after: .unavailable, random: 1) == .retry(after: .milliseconds(300)))
        #expect(s.decide(after: .unavailable, random: 1) == .retry(after: .milliseconds(900)))
        #expect(s.attemptsStarted == 4)
        #expect(s.decide(after: .unavailable, random: 1) == .doNotRetry(.attemptsExhausted))

        var t = RetryState(policy: policy)
        #expect(t.decide(after: .internalError, random: 1) == .doNotRetry(.nonRetryableStatus))
        #expect(t.decide(after: .unavailable, committed: true, random: 1) == .doNotRetry(.committed))
        #expect(t.decide(after: .unavailable, circuitBreakerRejection: true, random: 1)
            == .doNotRetry(.circuitBreakerRejection))
        #expect(t.decide(after: .unavailable, throttleAllowsRetry: false, random: 1) == .doNotRetry(.throttled))
        #expect(t.decide(after: .unavailable, pushback: .doNotRetry, random: 1) == .doNotRetry(.serverPushback))
        #expect(t.attemptsStarted == 1)  // none of those started a retry

        // Pushback replaces the backoff and restarts it.
        #expect(t.decide(after: .unavailable, random: 1) == .retry(after: .milliseconds(100)))
        #expect(t.decide(after: .unavailable, pushback: .retryAfter(.seconds(7)), random: 1) == .retry(after: .seconds(7)))
        #expect(t.decide(after: .unavailable, random: 1) == .retry(after: .milliseconds(100)))
    }

    @Test("no retry is scheduled to start at or past the deadline")
    func deadline() {
        var s = RetryState(policy: policy)
        #expect(s.decide(after: .unavailable, remaining: .milliseconds(100), random: 1) == .doNotRetry(.deadline))
        #expect(s.decide(after: .unavailable, remaining: .milliseconds(101), random: 1) == .retry(after: .milliseconds(100)))
        #expect(s.decide(after: .unavailable, pushback: .retryAfter(.seconds(2)), remaining: .seconds(1), random: 0)
            == .doNotRetry(.deadline))
    }

    @Test("a breaker rejection is never retried, bare or as RPCError")
    func breakerRejectionNeverRetried() {
        let rejection = CircuitBreakerRejection(key: BreakerKey(name: "x"), state: .open, retryAfter: .seconds(1))
        var s = RetryState(policy: policy)
        #expect(s.decide(after: rejection, random: 0) == .doNotRetry(.circuitBreakerRejection))
        // UNAVAILABLE is retryable, but not when a breaker produced it.
        #expect(s.decide(after: rejection.rpcError, random: 0) == .doNotRetry(.circuitBreakerRejection))
        #expect(s.decide(after: RPCError(code: .unavailable, message: ""), random: 0) == .retry(after: .zero))
    }

    @Test("pushback parsing", arguments: [
        ("0", RetryPushback.retryAfter(.zero)),
        ("250", .retryAfter(.milliseconds(250))),
        (" 12 ", .retryAfter(.milliseconds(12))),
        ("-1", .doNotRetry),
        ("", .doNotRetry),
        ("abc", .doNotRetry),
        ("1.5", .doNotRetry),
        ("+5", .doNotRetry),
        ("99999999999999999999999", .doNotRetry),
    ])
    func pushback(value: String, expected: RetryPushback) {
        #expect(RetryPushback(headerValue: value) == expected)
    }

    @Test("pushback as a server writes it, read back the same (whole milliseconds)")
    func pushbackHeaderValue() {
        #expect(RetryPushback.retryAfter(.milliseconds(250)).headerValue == "250")
        #expect(RetryPushback.retryAfter(.microseconds(1_999)).headerValue == "1")
        #expect(RetryPushback.doNotRetry.headerValue == "-1")
        for pushback in [RetryPushback.retryAfter(.seconds(3)), .retryAfter(.zero), .doNotRetry] {
            #expect(RetryPushback(headerValue: pushback.headerValue) == pushback)
        }
    }

    @Test("pushback from trailers")
    func pushbackMetadata() {
        #expect(RetryPushback(metadata: [:]) == nil)
        #expect(RetryPushback(metadata: ["grpc-retry-pushback-ms": "40"]) == .retryAfter(.milliseconds(40)))
    }

    @Test("throttle: starts full, -1 per failure, +ratio per success, capped, retries only above half")
    func throttle() {
        // The example from grpc's own tests: max 4, ratio 1.6, threshold 2.
        let throttle = RetryThrottle(policy: RetryThrottlingPolicy(maxTokens: 4, tokenRatio: 1.6))
        #expect(throttle.tokens == 4)
        #expect(throttle.recordFailure())  // 3
        throttle.recordSuccess()  // 4, capped
        #expect(throttle.tokens == 4)
        #expect(throttle.recordFailure())  // 3
        #expect(!throttle.recordFailure())  // 2: at the threshold, no retries
        #expect(!throttle.isRetryAllowed)
        throttle.recordSuccess()  // 3.6
        #expect(throttle.tokens == 3.6)
        #expect(throttle.isRetryAllowed)
        for _ in 0..<10 { throttle.recordFailure() }
        #expect(throttle.tokens == 0)  // floored
        for _ in 0..<3 { throttle.recordSuccess() }
        #expect(throttle.tokens == 4)  // 4.8 capped at 4
    }

    @Test("throttle: concurrent failures and successes lose no update")
    func throttleUnderConcurrency() async {
        // The count is one atomic changed by compare-and-exchange: 4 tasks of 200 failures take exactly
        // 800 tokens, and 4 tasks of 200 successes at ratio 0.5 put back exactly 400.
        let throttle = RetryThrottle(policy: RetryThrottlingPolicy(maxTokens: 1_000, tokenRatio: 0.5))
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { for _ in 0..<200 { throttle.recordFailure() } } }
        }
        #expect(throttle.tokens == 200)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { for _ in 0..<200 { throttle.recordSuccess() } } }
        }
        #expect(throttle.tokens == 600)
    }

    @Test("throttle arithmetic is exact in thousandths")
    func throttleExact() {
        let throttle = RetryThrottle(policy: RetryThrottlingPolicy(maxTokens: 10, tokenRatio: 0.1))
        for _ in 0..<10 { throttle.recordFailure() }
        for _ in 0..<51 { throttle.recordSuccess() }
        #expect(throttle.tokens == 5.1)
        #expect(throttle.isRetryAllowed)
    }

    @Test("throttle is thread-safe")
    func throttleConcurrent() async {
        let throttle = RetryThrottle(policy: RetryThrottlingPolicy(maxTokens: 1000, tokenRatio: 1))
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<100 { group.addTask { for _ in 0..<5 { throttle.recordFailure() } } }
        }
        #expect(throttle.tokens == 500)
        #expect(!throttle.isRetryAllowed)
    }
}
