import BreakwaterCore

/// When a circuit breaker trips, how long it stays open, and how it probes.
///
/// Trip rules (CLOSED to OPEN), any of which may trip the breaker:
/// - ``consecutiveFailures``: that many failures in a row (default 5; `nil` turns the rule off).
/// - ``failureRateThreshold``: the share of failures in the ``slidingWindow`` reaches the
///   threshold, once ``minimumCalls`` calls are in the window.
/// - ``slowCallRateThreshold``: the share of calls slower than ``slowCallDurationThreshold``
///   reaches the threshold, on the same window and minimum.
///
/// Neutral outcomes are not counted by any rule.
public struct CircuitBreakerPolicy: Sendable, Hashable {
    /// The sliding window the rate rules look at.
    public enum SlidingWindow: Sendable, Hashable {
        /// The last `n` counted calls, 1 to ``CircuitBreakerPolicy/maxCountWindowSize``; a breaker
        /// keeps one byte per call of the window.
        case count(Int)
        /// The calls of the last `duration`, aggregated in ten buckets, so that calls age out in
        /// steps of a tenth of the window.
        case time(Duration)
    }

    /// What one breaker covers.
    public enum Scope: Sendable, Hashable {
        /// One breaker per (target, service, method): the default.
        case method
        /// One breaker per (target, service), shared by all its methods.
        case service
    }

    /// The largest count window: one byte a call, so at most 1 MB a breaker.
    public static let maxCountWindowSize = 1_000_000

    /// Failures in a row that trip the breaker; `nil` disables the rule. Default 5.
    public var consecutiveFailures: Int?
    /// Failure rate in (0, 1] over the window that trips the breaker; `nil` disables the rule.
    public var failureRateThreshold: Double?
    /// The window for the rate rules. Default: the last 100 calls.
    public var slidingWindow: SlidingWindow
    /// Calls the window must hold before a rate rule may trip. Default 20.
    public var minimumCalls: Int
    /// A call that takes longer than this counts as slow; `nil` disables the slow-call rule.
    public var slowCallDurationThreshold: Duration?
    /// Slow-call rate in (0, 1] over the window that trips the breaker; `nil` disables the rule.
    public var slowCallRateThreshold: Double?
    /// How long the breaker stays open after its first trip. Default 60 s.
    public var openDuration: Duration
    /// Growth of the open duration per consecutive trip (a trip from HALF_OPEN without closing
    /// in between); at least 1. Default 1 (no growth).
    public var openDurationMultiplier: Double
    /// The longest open duration growth may reach; `nil`: no cap.
    public var maxOpenDuration: Duration?
    /// A fraction in [0, 1): each open duration is shortened by a random share of up to this
    /// fraction, so a fleet of clients does not probe in lock-step. Default 0.2: clients that tripped
    /// together probe spread over a fifth of the open duration (48-60 s for the default 60 s), as gRPC
    /// spreads its reconnect backoff by 20%, while no breaker stays open longer than configured. 0
    /// gives exact open durations (tests with a manual clock, or a single client).
    public var jitter: Double
    /// Probes admitted at the same time in HALF_OPEN. Default 1.
    public var halfOpenProbes: Int
    /// Successful probes in a row that close the breaker. Default 2.
    public var successThreshold: Int
    /// How long a probe may hold its slot without reporting before the slot is reclaimed.
    /// Default 30 s.
    public var probeLease: Duration
    /// How statuses and errors count.
    public var classifier: OutcomeClassifier
    /// What one breaker covers. Default ``Scope/method``.
    public var scope: Scope

    /// Creates a policy; every parameter has the classic default.
    public init(
        consecutiveFailures: Int? = 5,
        failureRateThreshold: Double? = nil,
        slidingWindow: SlidingWindow = .count(100),
        minimumCalls: Int = 20,
        slowCallDurationThreshold: Duration? = nil,
        slowCallRateThreshold: Double? = nil,
        openDuration: Duration = .seconds(60),
        openDurationMultiplier: Double = 1,
        maxOpenDuration: Duration? = nil,
        jitter: Double = 0.2,
        halfOpenProbes: Int = 1,
        successThreshold: Int = 2,
        probeLease: Duration = .seconds(30),
        classifier: OutcomeClassifier = .default,
        scope: Scope = .method
    ) {
        self.consecutiveFailures = consecutiveFailures
        self.failureRateThreshold = failureRateThreshold
        self.slidingWindow = slidingWindow
        self.minimumCalls = minimumCalls
        self.slowCallDurationThreshold = slowCallDurationThreshold
        self.slowCallRateThreshold = slowCallRateThreshold
        self.openDuration = openDuration
        self.openDurationMultiplier = openDurationMultiplier
        self.maxOpenDuration = maxOpenDuration
        self.jitter = jitter
        self.halfOpenProbes = halfOpenProbes
        self.successThreshold = successThreshold
        self.probeLease = probeLease
        self.classifier = classifier
        self.scope = scope
    }

    /// Whether a rule needs the sliding window.
    var usesWindow: Bool {
        failureRateThreshold != nil || (slowCallDurationThreshold != nil && slowCallRateThreshold != nil)
    }

    /// Checks the policy; the error's path is the field name, as in the service-config extension.
    public func validate() throws(ConfigurationError) {
        func fail(_ field: String, _ value: Any, _ reason: String) -> ConfigurationError {
            ConfigurationError(path: field, value: "\(value)", reason: reason)
        }
        if let n = consecutiveFailures, n < 1 { throw fail("consecutiveFailures", n, "is not >= 1") }
        if let r = failureRateThreshold, !(r > 0 && r <= 1) {
            throw fail("failureRateThreshold", r, "is not in (0, 1]")
        }
        switch slidingWindow {
        case .count(let n) where n < 1: throw fail("slidingWindow.size", n, "is not >= 1")
        case .count(let n) where n > Self.maxCountWindowSize:
            throw fail("slidingWindow.size", n, "is over \(Self.maxCountWindowSize)")
        case .time(let d) where d <= .zero: throw fail("slidingWindow.size", d, "is not > 0")
        default: break
        }
        if minimumCalls < 1 { throw fail("minimumCalls", minimumCalls, "is not >= 1") }
        if let d = slowCallDurationThreshold, d <= .zero {
            throw fail("slowCallDurationThreshold", d, "is not > 0")
        }
        if let r = slowCallRateThreshold, !(r > 0 && r <= 1) {
            throw fail("slowCallRateThreshold", r, "is not in (0, 1]")
        }
        if (slowCallDurationThreshold == nil) != (slowCallRateThreshold == nil) {
            throw ConfigurationError(
                path: slowCallDurationThreshold == nil ? "slowCallDurationThreshold" : "slowCallRateThreshold",
                value: "",
                reason: "is required when the other slow-call field is set"
            )
        }
        if openDuration <= .zero { throw fail("openDuration", openDuration, "is not > 0") }
        if !(openDurationMultiplier >= 1) || !openDurationMultiplier.isFinite {
            throw fail("openDurationMultiplier", openDurationMultiplier, "is not >= 1")
        }
        if let m = maxOpenDuration, m < openDuration {
            throw fail("maxOpenDuration", m, "is less than openDuration \(openDuration)")
        }
        if !(jitter >= 0 && jitter < 1) { throw fail("jitter", jitter, "is not in [0, 1)") }
        if halfOpenProbes < 1 { throw fail("halfOpenProbes", halfOpenProbes, "is not >= 1") }
        if successThreshold < 1 { throw fail("successThreshold", successThreshold, "is not >= 1") }
        if probeLease <= .zero { throw fail("probeLease", probeLease, "is not > 0") }
        if consecutiveFailures == nil && !usesWindow {
            throw ConfigurationError(
                path: "consecutiveFailures", value: "",
                reason: "is disabled and no rate rule is set, so the breaker could never trip"
            )
        }
    }
}
