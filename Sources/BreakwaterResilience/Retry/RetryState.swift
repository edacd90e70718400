import BreakwaterCore

/// The retry bookkeeping of one call, per gRFC A6, as a plain value type: how many attempts were
/// made, which backoff comes next, and whether another attempt should be made.
///
/// The retry interceptor creates one per call, asks ``decide(after:pushback:committed:circuitBreakerRejection:throttleAllowsRetry:remaining:random:)``
/// after each failed attempt, and sends ``previousAttempts`` as `grpc-previous-rpc-attempts` on later
/// attempts. It also feeds the target's ``RetryThrottle``: ``RetryThrottle/recordFailure()`` for an
/// attempt that failed with a retryable status or was pushed back (its result is `throttleAllowsRetry`),
/// ``RetryThrottle/recordSuccess()`` for a successful one.
public struct RetryState: Sendable, Hashable {
    /// The policy.
    public let policy: RetryPolicy
    /// Attempts started so far; 1 once the first attempt is under way.
    public private(set) var attemptsStarted = 1
    /// The `n` of the next computed backoff; server pushback restarts it at 1.
    private var nextBackoffRetry = 1

    /// The state of a call whose first attempt has started.
    public init(policy: RetryPolicy) {
        self.policy = policy
    }

    /// The value of `grpc-previous-rpc-attempts` for the current attempt (0 on the first, which
    /// does not send it).
    public var previousAttempts: Int { attemptsStarted - 1 }

    /// Decides whether to retry after an attempt ended with `code`, and if so after how long; a
    /// retry is counted as started.
    ///
    /// The checks, in order: a breaker rejection, a committed call, a non-retryable status, a
    /// pushback saying stop, the attempt limit, the throttle, and finally the deadline: a retry that
    /// would start at or past it is not scheduled.
    ///
    /// - Parameters:
    ///   - code: The attempt's status code.
    ///   - pushback: The server's pushback, if it sent one; a delay replaces the computed backoff.
    ///   - committed: Whether the call was committed (response headers received, buffer exceeded).
    ///   - circuitBreakerRejection: Whether a circuit breaker rejected the attempt.
    ///   - throttleAllowsRetry: What the target's throttle says (``RetryThrottle/recordFailure()``).
    ///   - remaining: Time left before the call's deadline; `nil` without a deadline.
    ///   - random: A number in [0, 1] for the backoff's full jitter.
    public mutating func decide(
        after code: Status.Code,
        pushback: RetryPushback? = nil,
        committed: Bool = false,
        circuitBreakerRejection: Bool = false,
        throttleAllowsRetry: Bool = true,
        remaining: Duration? = nil,
        random: Double
    ) -> RetryDecision {
        if circuitBreakerRejection { return .doNotRetry(.circuitBreakerRejection) }
        if committed { return .doNotRetry(.committed) }
        guard policy.retryableStatusCodes.contains(code) else { return .doNotRetry(.nonRetryableStatus) }
        if pushback == .doNotRetry { return .doNotRetry(.serverPushback) }
        guard attemptsStarted < policy.maxAttempts else { return .doNotRetry(.attemptsExhausted) }
        guard throttleAllowsRetry else { return .doNotRetry(.throttled) }

        let delay: Duration
        let nextRetry: Int
        if case .retryAfter(let pushed)? = pushback {
            delay = pushed
            nextRetry = 1
        } else {
            delay = policy.backoff(forRetry: nextBackoffRetry, random: random)
            nextRetry = nextBackoffRetry + 1
        }
        if let remaining, delay >= remaining { return .doNotRetry(.deadline) }
        nextBackoffRetry = nextRetry
        attemptsStarted += 1
        return .retry(after: delay)
    }

    /// Decides as ``decide(after:pushback:committed:circuitBreakerRejection:throttleAllowsRetry:remaining:random:)``
    /// for an attempt that threw `error`: a breaker rejection (bare or inside an `RPCError`) is
    /// never retried, an `RPCError` is judged by its code, and any other error is not retried.
    public mutating func decide(
        after error: any Error,
        pushback: RetryPushback? = nil,
        committed: Bool = false,
        throttleAllowsRetry: Bool = true,
        remaining: Duration? = nil,
        random: Double
    ) -> RetryDecision {
        switch error {
        case is CircuitBreakerRejection:
            return .doNotRetry(.circuitBreakerRejection)
        case let error as RPCError:
            return decide(
                after: error.code, pushback: pushback, committed: committed,
                circuitBreakerRejection: error.isCircuitBreakerRejection,
                throttleAllowsRetry: throttleAllowsRetry, remaining: remaining, random: random
            )
        default:
            return .doNotRetry(.nonRetryableStatus)
        }
    }
}
