import BreakwaterCore
import BreakwaterTestSupport
import Testing

@testable import BreakwaterResilience

/// A per-call override: how it changes a method's plan, and how an invalid one is reported.
@Suite("MethodPolicyOverride: resolution and validation")
struct MethodPolicyOverrideTests {
    static let retry = RetryPolicy(
        maxAttempts: 3, initialBackoff: .milliseconds(10), maxBackoff: .seconds(1), backoffMultiplier: 2,
        retryableStatusCodes: [.unavailable])
    static let hedging = HedgingPolicy(maxAttempts: 2, hedgingDelay: .milliseconds(20))

    func plan(timeout: Duration? = .seconds(1), retry: RetryPolicy? = Self.retry, hedging: HedgingPolicy? = nil) throws -> MethodPlan {
        let breaker = try CircuitBreaker(name: "b", policy: CircuitBreakerPolicy())
        return MethodPlan(timeout: timeout, retry: retry, hedging: hedging, breaker: breaker, callOptions: nil,
            retryStage: RetryInterceptor(policies: PolicyTable()))
    }

    @Test("the default override changes nothing; each field inherits, turns off or replaces")
    func resolution() throws {
        let plan = try plan()
        let same = plan.overridden(by: MethodPolicyOverride())
        #expect(same.timeout == .seconds(1))
        #expect(same.retry == Self.retry)
        #expect(same.hedging == nil)
        #expect(same.breaker === plan.breaker)

        let admin = plan.overridden(by: MethodPolicyOverride(timeout: .set(.seconds(30)), retry: .off, bypassCircuitBreaker: true))
        #expect(admin.timeout == .seconds(30))
        #expect(admin.retry == nil)
        #expect(admin.breaker == nil)

        #expect(plan.overridden(by: MethodPolicyOverride(timeout: .off)).timeout == nil)
        #expect(plan.overridden(by: .noRetry).retry == nil)
        #expect(plan.overridden(by: .noRetry).hedging == nil)
    }

    @Test("setting a hedging policy turns the method's retry off, and a retry policy its hedging")
    func retryOrHedging() throws {
        let hedged = try plan().overridden(by: MethodPolicyOverride(hedging: .set(Self.hedging)))
        #expect(hedged.retry == nil)
        #expect(hedged.hedging == Self.hedging)
        let retried = try plan(retry: nil, hedging: Self.hedging).overridden(by: MethodPolicyOverride(retry: .set(Self.retry)))
        #expect(retried.retry == Self.retry)
        #expect(retried.hedging == nil)
        // Turning retry off leaves a hedged method hedged.
        let stillHedged = try plan(retry: nil, hedging: Self.hedging).overridden(by: MethodPolicyOverride(retry: .off))
        #expect(stillHedged.hedging == Self.hedging)
    }

    @Test("an invalid override names its field, as a MethodPolicy does")
    func validation() {
        var badRetry = Self.retry
        badRetry.maxAttempts = 1
        var badHedging = Self.hedging
        badHedging.hedgingDelay = .milliseconds(-1)
        let cases: [(MethodPolicyOverride, String)] = [
            (MethodPolicyOverride(timeout: .set(.zero)), "timeout: 0.0 seconds is not > 0"),
            (MethodPolicyOverride(retry: .set(badRetry)), "retry.maxAttempts: 1 is not > 1"),
            (MethodPolicyOverride(hedging: .set(badHedging)), "hedging.hedgingDelay: -0.001 seconds is not >= 0"),
            (MethodPolicyOverride(retry: .set(Self.retry), hedging: .set(Self.hedging)),
             "hedging: cannot be combined with retry (a call is either retried or hedged)"),
        ]
        for (override, expected) in cases {
            #expect(throws: ConfigurationError.self) { try override.validate() }
            do {
                try override.validate()
            } catch {
                #expect(error.description == expected)
            }
        }
        #expect(throws: Never.self) { try MethodPolicyOverride(timeout: .set(.seconds(1)), retry: .set(Self.retry)).validate() }
    }

    @Test("the override travels in CallOptions and is checked there: INVALID_ARGUMENT naming the field")
    func carriedInCallOptions() {
        var options = CallOptions()
        #expect(options.policyOverride == nil)
        options.policyOverride = .noRetry
        #expect(options.policyOverride == .noRetry)
        let method = MethodDescriptor(service: "echo.Echo", method: "Get")
        #expect(throws: Never.self) { _ = try options.checkedPolicyOverride(for: method) }
        options.policyOverride = MethodPolicyOverride(timeout: .set(.seconds(-2)))
        do {
            _ = try options.checkedPolicyOverride(for: method)
            Issue.record("an invalid override passed")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message == "invalid policy override for /echo.Echo/Get: timeout: -2.0 seconds is not > 0")
        }
        options.policyOverride = nil
        #expect(options.extensions.isEmpty)
    }
}
