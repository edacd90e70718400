import BreakwaterCore
import Synchronization

/// The retry token bucket of one target (gRFC A6), shared by all its calls. Thread-safe.
///
/// The bucket starts with `maxTokens`. Each failed attempt takes one token, each success puts back
/// `tokenRatio`, within [0, maxTokens]. Retries are allowed only while more than `maxTokens / 2`
/// tokens remain. Counts are kept in thousandths of a token, so arithmetic is exact.
///
/// The count is one atomic: every successful call of the target reports here, and with the bucket full
/// (a healthy target) a success is a single load.
public final class RetryThrottle: Sendable {
    /// The policy.
    public let policy: RetryThrottlingPolicy
    private let maxMilliTokens: Int
    private let milliTokens: Atomic<Int>

    /// Creates a full bucket.
    public init(policy: RetryThrottlingPolicy) {
        self.policy = policy
        self.maxMilliTokens = policy.maxTokens * 1000
        self.milliTokens = Atomic(policy.maxTokens * 1000)
    }

    /// The tokens in the bucket.
    public var tokens: Double { Double(milliTokens.load(ordering: .relaxed)) / 1000 }

    /// Whether a retry may be attempted now: more than `maxTokens / 2` tokens remain.
    public var isRetryAllowed: Bool {
        milliTokens.load(ordering: .relaxed) * 2 > maxMilliTokens
    }

    /// Takes a token for a failed attempt (one that ended with a retryable status, or was pushed
    /// back). Returns whether a retry is still allowed.
    @discardableResult
    public func recordFailure() -> Bool {
        var tokens = milliTokens.load(ordering: .relaxed)
        while true {
            let new = max(0, tokens - 1000)
            let (exchanged, current) = milliTokens.compareExchange(
                expected: tokens, desired: new, ordering: .relaxed)
            if exchanged { return new * 2 > maxMilliTokens }
            tokens = current
        }
    }

    /// Puts back `tokenRatio` tokens for a successful attempt.
    public func recordSuccess() {
        let ratio = policy.milliTokenRatio
        var tokens = milliTokens.load(ordering: .relaxed)
        while tokens < maxMilliTokens {
            let (exchanged, current) = milliTokens.compareExchange(
                expected: tokens, desired: min(maxMilliTokens, tokens + ratio), ordering: .relaxed)
            if exchanged { return }
            tokens = current
        }
    }

    /// Feeds the final status of a committed call: OK puts tokens back, a status in `retryable` takes one.
    func record(_ end: ClientResponseEnd, retryable: Set<Status.Code>) {
        switch end {
        case .trailers:
            recordSuccess()
        case .error(let error):
            if let rpc = error as? RPCError, retryable.contains(rpc.code) { recordFailure() }
        case .abandoned:
            break
        }
    }
}
