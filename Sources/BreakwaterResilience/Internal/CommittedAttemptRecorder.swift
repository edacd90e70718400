import BreakwaterCore

/// Where the end of a method's committed first attempt is reported: its breaker, and the target's retry
/// throttle with the retry policy's retryable codes. One per method, made when its plan is resolved.
final class AttemptOutcomeSinks: Sendable {
    let breaker: CircuitBreaker
    let throttle: RetryThrottle
    let retryable: Set<Status.Code>

    init(breaker: CircuitBreaker, throttle: RetryThrottle, retryable: Set<Status.Code>) {
        self.breaker = breaker
        self.throttle = throttle
        self.retryable = retryable
    }
}

/// One observer for both things the end of a CLOSED call's first attempt must tell: the breaker its
/// outcome, and the retry throttle its status. It replaces the breaker's and the throttle's own observers
/// on that path, so the response stream keeps one observer instead of two; 24 bytes, inline in the
/// existential.
struct CommittedAttemptRecorder: ClientResponseObserver {
    let sinks: AttemptOutcomeSinks
    let permit: PackedPermit

    func responseEnded(_ end: ClientResponseEnd) {
        record(end, in: sinks.breaker, for: permit.permit, expiredAtStart: permit.expiredAtStart)
        sinks.throttle.record(end, retryable: sinks.retryable)
    }
}
