import BreakwaterCore

/// How a method's calls are hedged, as in gRFC A6 and grpc's `service_config.proto`: several
/// attempts race, the first answer wins and the others are cancelled.
///
/// The first attempt is sent at once, another after each ``hedgingDelay`` (or at once when an
/// attempt fails with one of the ``nonFatalStatusCodes``), up to ``maxAttempts`` in all. A method
/// is either retried or hedged: a ``MethodPolicy`` with both is invalid.
///
/// Hedging multiplies the load a slow server sees; pair it with ``RetryThrottlingPolicy`` (a hedge is
/// not sent while the target's throttle says no) and keep ``hedgingDelay`` near the method's p95.
public struct HedgingPolicy: Sendable, Hashable {
    /// The most attempts gRPC allows, whatever a policy asks for.
    public static let maxAttemptsLimit = 5

    /// Attempts in all, the first included: more than 1, capped at ``maxAttemptsLimit``.
    public var maxAttempts: Int {
        didSet { maxAttempts = min(maxAttempts, Self.maxAttemptsLimit) }
    }
    /// The time between one attempt and the next hedge; zero sends all ``maxAttempts`` at once.
    public var hedgingDelay: Duration
    /// The status codes after which the next hedge is sent at once; any other code (and OK) ends the
    /// call with that attempt's result.
    public var nonFatalStatusCodes: Set<Status.Code>

    /// Creates a policy; `maxAttempts` above ``maxAttemptsLimit`` is capped.
    public init(maxAttempts: Int, hedgingDelay: Duration = .zero, nonFatalStatusCodes: Set<Status.Code> = []) {
        self.maxAttempts = min(maxAttempts, Self.maxAttemptsLimit)
        self.hedgingDelay = hedgingDelay
        self.nonFatalStatusCodes = nonFatalStatusCodes
    }

    /// Checks the policy; the error's path is the service-config field name.
    public func validate() throws(ConfigurationError) {
        if maxAttempts <= 1 {
            throw ConfigurationError(path: "maxAttempts", value: "\(maxAttempts)", reason: "is not > 1")
        }
        if hedgingDelay < .zero {
            throw ConfigurationError(path: "hedgingDelay", value: "\(hedgingDelay)", reason: "is not >= 0")
        }
        if nonFatalStatusCodes.contains(.ok) {
            throw ConfigurationError(path: "nonFatalStatusCodes", value: "OK", reason: "cannot be a failure")
        }
    }
}
