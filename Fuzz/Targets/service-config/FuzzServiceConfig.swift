// Service-config JSON: ServiceConfig(json:) and ResilienceConfiguration.serviceConfig(json:target:).
//
// The input is the JSON text. Checked: both entry points agree; a rejection names a path and a
// reason; an accepted config is one the library can run: every policy passes its own `validate()`,
// retry attempts are in 2...5, each backoff ceiling stays in [0, maxBackoff] and never shrinks with a
// multiplier >= 1, and
// a circuit breaker made from each breaker policy can be created, tripped, waited out, probed and
// tripped again (open durations grow by the multiplier up to their cap) without trapping.
import BreakwaterCore
import BreakwaterResilience
import FuzzSupport

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

private func exercise(_ retry: RetryPolicy) {
    check((try? retry.validate()) != nil, "accepted retry policy fails validate()")
    check((2...RetryPolicy.maxAttemptsLimit).contains(retry.maxAttempts), "maxAttempts \(retry.maxAttempts)")
    var previous = Duration.zero
    for n in 1...retry.maxAttempts {
        let ceiling = retry.backoffCeiling(forRetry: n)
        // A multiplier below 1 (gRFC A6 only asks for > 0) shrinks the ceiling, down to zero at worst.
        check(ceiling >= .zero && ceiling <= max(retry.maxBackoff, retry.initialBackoff), "backoff ceiling \(ceiling) for retry \(n)")
        if retry.backoffMultiplier >= 1 {
            check(ceiling >= previous || ceiling == retry.maxBackoff, "backoff ceiling shrank at retry \(n)")
        }
        previous = ceiling
        let low = retry.backoff(forRetry: n, random: 0)
        let high = retry.backoff(forRetry: n, random: 1)
        check(low >= .zero && high <= ceiling, "jittered backoff outside [0, ceiling]")
    }
}

private func exercise(_ policy: CircuitBreakerPolicy) {
    check((try? policy.validate()) != nil, "accepted breaker policy fails validate()")
    var machine = CircuitBreakerStateMachine<ContinuousClock.Instant>(policy: policy, random: { 1 })
    var previous = Duration.zero
    for trip in 1...6 {
        let d = machine.baseOpenDuration(forTrip: trip)
        check(d >= policy.openDuration || d == policy.maxOpenDuration, "open duration \(d) for trip \(trip)")
        check(d >= previous, "open duration shrank at trip \(trip)")
        previous = d
    }
    // Trip it with failures (bounded: a huge threshold is not something to loop through).
    var now = ContinuousClock.now
    var trips = 0
    for _ in 0..<256 where trips < 3 {
        switch machine.acquire(at: now).decision {
        case .admitted(let permit):
            let transition = machine.record(.failure, for: permit, at: now.advanced(by: .milliseconds(1)))
            if transition?.to == .open { trips += 1 }
        case .rejected(let state, let retryAfter):
            check(state == .open || state == .halfOpen, "rejected in \(state)")
            if let retryAfter {
                check(retryAfter > .zero && retryAfter <= machine.baseOpenDuration(forTrip: trips), "retryAfter \(retryAfter)")
                now = now.advanced(by: retryAfter)
            } else {
                now = now.advanced(by: policy.probeLease)
            }
        }
        now = now.advanced(by: .milliseconds(1))
    }
    _ = machine.snapshot(key: BreakerKey(target: "fuzz", service: "s", method: "m"), at: now)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let json = Data(fuzzBytes(data, count))
    let config: ServiceConfig
    do {
        config = try ServiceConfig(json: json)
    } catch {
        check(!error.path.isEmpty && !error.reason.isEmpty, "error without a path or reason: \(error)")
        check(!error.description.isEmpty, "empty description")
        let again = Result { try ResilienceConfiguration.serviceConfig(json: json, target: "fuzz") }
        guard case .failure(let e) = again, let e = e as? ConfigurationError, e == error else {
            check(false, "entry points disagree on a rejection: \(error) then \(again)")
            return 0
        }
        return 0
    }
    guard let resilience = try? ResilienceConfiguration.serviceConfig(json: json, target: "fuzz") else {
        check(false, "ServiceConfig accepted what ResilienceConfiguration.serviceConfig refused")
        return 0
    }
    check(resilience.policies == config.policies && resilience.retryThrottling == config.retryThrottling, "entry points disagree")
    if let throttling = config.retryThrottling {
        check((try? throttling.validate()) != nil, "accepted throttling fails validate()")
    }
    let policies = Array(config.policies.entries.values) + (config.policies.defaultPolicy.map { [$0] } ?? [])
    for policy in policies {
        if let timeout = policy.timeout { check(timeout > .zero, "timeout \(timeout)") }
        if let retry = policy.retry { exercise(retry) }
        if let breaker = policy.circuitBreaker { exercise(breaker) }
    }
    return 0
}
