import BreakwaterCore

/// How a method's failed attempts are retried, as in gRFC A6 and grpc's `service_config.proto`.
public struct RetryPolicy: Sendable, Hashable {
    /// The most attempts gRPC allows, whatever a policy asks for.
    public static let maxAttemptsLimit = 5

    /// Attempts in all, the first included: more than 1, capped at ``maxAttemptsLimit``.
    public var maxAttempts: Int {
        didSet { maxAttempts = min(maxAttempts, Self.maxAttemptsLimit) }
    }
    /// The backoff ceiling before the first retry.
    public var initialBackoff: Duration
    /// The largest backoff ceiling.
    public var maxBackoff: Duration
    /// Growth of the backoff ceiling per retry.
    public var backoffMultiplier: Double
    /// Status codes that may be retried.
    public var retryableStatusCodes: Set<Status.Code>
    /// An optional bound on each attempt, inside the call's overall deadline.
    public var perAttemptTimeout: Duration?

    /// Creates a policy; `maxAttempts` above ``maxAttemptsLimit`` is capped.
    public init(
        maxAttempts: Int,
        initialBackoff: Duration,
        maxBackoff: Duration,
        backoffMultiplier: Double,
        retryableStatusCodes: Set<Status.Code>,
        perAttemptTimeout: Duration? = nil
    ) {
        self.maxAttempts = min(maxAttempts, Self.maxAttemptsLimit)
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.backoffMultiplier = backoffMultiplier
        self.retryableStatusCodes = retryableStatusCodes
        self.perAttemptTimeout = perAttemptTimeout
    }

    /// Checks the policy; the error's path is the service-config field name.
    public func validate() throws(ConfigurationError) {
        if maxAttempts <= 1 {
            throw ConfigurationError(path: "maxAttempts", value: "\(maxAttempts)", reason: "is not > 1")
        }
        if initialBackoff <= .zero {
            throw ConfigurationError(path: "initialBackoff", value: "\(initialBackoff)", reason: "is not > 0")
        }
        if maxBackoff <= .zero {
            throw ConfigurationError(path: "maxBackoff", value: "\(maxBackoff)", reason: "is not > 0")
        }
        if !(backoffMultiplier > 0) || !backoffMultiplier.isFinite {
            throw ConfigurationError(path: "backoffMultiplier", value: "\(backoffMultiplier)", reason: "is not > 0")
        }
        if retryableStatusCodes.isEmpty {
            throw ConfigurationError(path: "retryableStatusCodes", value: "[]", reason: "is empty")
        }
        if retryableStatusCodes.contains(.ok) {
            throw ConfigurationError(path: "retryableStatusCodes", value: "OK", reason: "cannot be retried")
        }
        if let t = perAttemptTimeout, t <= .zero {
            throw ConfigurationError(path: "perAttemptRecvTimeout", value: "\(t)", reason: "is not > 0")
        }
    }

    /// The backoff ceiling before retry `n` (1 for the first retry):
    /// `min(initialBackoff × backoffMultiplier^(n-1), maxBackoff)`.
    public func backoffCeiling(forRetry n: Int) -> Duration {
        var ceiling = initialBackoff
        for _ in 1..<max(n, 1) {
            guard ceiling < maxBackoff else { break }
            // Compared as a ratio first: `Duration * Double` traps once the product leaves Int128, and a
            // service config may ask for a multiplier of 1e300.
            guard ceiling / maxBackoff * backoffMultiplier < 1 else { return maxBackoff }
            ceiling = ceiling * backoffMultiplier
        }
        return min(ceiling, maxBackoff)
    }

    /// The backoff before retry `n` with full jitter: `ceiling × random`, for `random` in [0, 1].
    public func backoff(forRetry n: Int, random: Double) -> Duration {
        backoffCeiling(forRetry: n) * min(max(random, 0), 1)
    }

    /// The backoff before retry `n` with full jitter: uniformly random in [0, ceiling].
    public func backoff(forRetry n: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        backoff(forRetry: n, random: Double.random(in: 0...1, using: &generator))
    }
}
