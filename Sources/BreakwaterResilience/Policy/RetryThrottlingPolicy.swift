/// Retry throttling for a target, as in gRFC A6: a token bucket that stops retries while too many
/// calls fail. See ``RetryThrottle``.
public struct RetryThrottlingPolicy: Sendable, Hashable {
    /// The bucket's size, in (0, 1000]; it starts full.
    public var maxTokens: Int
    /// Tokens a success puts back, > 0, with at most three decimals.
    public var tokenRatio: Double

    /// Creates a policy.
    public init(maxTokens: Int, tokenRatio: Double) {
        self.maxTokens = maxTokens
        self.tokenRatio = tokenRatio
    }

    /// The token ratio in thousandths of a token, as the bucket counts.
    var milliTokenRatio: Int { Int((tokenRatio * 1000).rounded()) }

    /// Checks the policy; the error's path is the service-config field name.
    public func validate() throws(ConfigurationError) {
        if !(maxTokens > 0 && maxTokens <= 1000) {
            throw ConfigurationError(path: "maxTokens", value: "\(maxTokens)", reason: "is not in (0, 1000]")
        }
        if !(tokenRatio > 0) || !tokenRatio.isFinite {
            throw ConfigurationError(path: "tokenRatio", value: "\(tokenRatio)", reason: "is not > 0")
        }
        let thousandths = tokenRatio * 1000
        if abs(thousandths - thousandths.rounded()) > 1e-6 {
            throw ConfigurationError(path: "tokenRatio", value: "\(tokenRatio)", reason: "has more than 3 decimals")
        }
    }
}
