@_spi(Locking) import BreakwaterCore

/// The retry token bucket of one target (gRFC A6), shared by all its calls. Thread-safe.
///
/// The bucket starts with `maxTokens`. Each failed attempt takes one token, each success puts back
/// `tokenRatio`, within [0, maxTokens]. Retries are allowed only while more than `maxTokens / 2`
/// tokens remain. Counts are kept in thousandths of a token, so arithmetic is exact.
public final class RetryThrottle: Sendable {
    /// The policy.
    public let policy: RetryThrottlingPolicy
    private let maxMilliTokens: Int
    private let milliTokens: TSanMutex<Int>

    /// Creates a full bucket.
    public init(policy: RetryThrottlingPolicy) {
        self.policy = policy
        self.maxMilliTokens = policy.maxTokens * 1000
        self.milliTokens = TSanMutex(policy.maxTokens * 1000)
    }

    /// The tokens in the bucket.
    public var tokens: Double { Double(milliTokens.withLock { $0 }) / 1000 }

    /// Whether a retry may be attempted now: more than `maxTokens / 2` tokens remain.
    public var isRetryAllowed: Bool {
        milliTokens.withLock { $0 } * 2 > maxMilliTokens
    }

    /// Takes a token for a failed attempt (one that ended with a retryable status, or was pushed
    /// back). Returns whether a retry is still allowed.
    @discardableResult
    public func recordFailure() -> Bool {
        milliTokens.withLock { tokens in
            tokens = max(0, tokens - 1000)
            return tokens * 2 > maxMilliTokens
        }
    }

    /// Puts back `tokenRatio` tokens for a successful attempt.
    public func recordSuccess() {
        let ratio = policy.milliTokenRatio
        milliTokens.withLock { tokens in tokens = min(maxMilliTokens, tokens + ratio) }
    }
}
