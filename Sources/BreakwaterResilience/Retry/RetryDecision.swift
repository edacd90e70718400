/// What to do after a failed attempt.
public enum RetryDecision: Sendable, Hashable {
    /// Start another attempt after this delay.
    case retry(after: Duration)
    /// End the call with the attempt's status.
    case doNotRetry(Reason)

    /// Why a call is not retried.
    public enum Reason: Sendable, Hashable {
        /// A circuit breaker rejected the attempt; that is never retried.
        case circuitBreakerRejection
        /// The call was committed: response headers arrived, or the retry buffer overflowed.
        case committed
        /// The status is not in the policy's retryable codes.
        case nonRetryableStatus
        /// The server's pushback said not to retry.
        case serverPushback
        /// Every allowed attempt was used.
        case attemptsExhausted
        /// The target's retry throttle has too few tokens.
        case throttled
        /// The next attempt would start at or past the deadline.
        case deadline
    }
}
