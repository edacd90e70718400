/// How a client spreads calls over the endpoints its target resolves to, and when it stops sending
/// calls to one of them: the values of a service config's `loadBalancingConfig`, shared by the service
/// config loader (`BreakwaterResilience`) and the transport that carries them out (`BreakwaterHTTP2`).
public struct LoadBalancingConfig: Sendable, Hashable {
    /// How a call's endpoint is chosen among those ready.
    public enum Policy: Sendable, Hashable, CustomStringConvertible {
        /// Every call goes to the first endpoint, in resolution order, that is ready; the others are
        /// connected only when the ones before them fail. gRPC's default.
        case pickFirst
        /// Calls go to the ready endpoints in turn.
        case roundRobin
        /// Each call samples `choiceCount` ready endpoints at random and goes to the one with the fewest
        /// calls in flight ("power of two choices" with the default 2; gRFC A48).
        case leastRequest(choiceCount: Int = 2)

        /// The service config's name: `pick_first`, `round_robin`, `least_request`.
        public var description: String {
            switch self {
            case .pickFirst: "pick_first"
            case .roundRobin: "round_robin"
            case .leastRequest: "least_request"
            }
        }
    }

    /// The policy; ``Policy/pickFirst`` by default.
    public var policy: Policy
    /// Per-endpoint ejection; `nil` ejects nothing.
    public var outlierDetection: OutlierDetectionPolicy?
    /// Client-side health checking (gRFC A17, a service config's `healthCheckConfig.serviceName`): each
    /// endpoint's connection watches `grpc.health.v1.Health/Watch` for this service (`""`: the whole
    /// server), and an endpoint takes calls only while it answers SERVING; a server without the health
    /// service (UNIMPLEMENTED) counts as healthy. `nil`: off. As in gRPC, pick_first does not check.
    public var healthCheckServiceName: String?

    /// Creates a configuration.
    public init(
        policy: Policy = .pickFirst, outlierDetection: OutlierDetectionPolicy? = nil, healthCheckServiceName: String? = nil
    ) {
        self.policy = policy
        self.outlierDetection = outlierDetection
        self.healthCheckServiceName = healthCheckServiceName
    }

    /// pick_first, no ejection.
    public static let pickFirst = LoadBalancingConfig(policy: .pickFirst)
    /// round_robin, no ejection.
    public static let roundRobin = LoadBalancingConfig(policy: .roundRobin)
    /// least_request with two choices, no ejection.
    public static let leastRequest = LoadBalancingConfig(policy: .leastRequest())

    /// The first invalid value, as `outlierDetection.maxEjectionPercent: 120 is not in 0...100`; nil
    /// when every value is usable.
    public var invalidReason: String? {
        if case .leastRequest(let choices) = policy, !(2...10).contains(choices) {
            return "policy.choiceCount: \(choices) is not in 2...10"
        }
        return outlierDetection?.invalidReason.map { "outlierDetection.\($0)" }
    }
}

/// When one endpoint of several is ejected (takes no new calls for a while), in the spirit of gRPC's
/// outlier detection (gRFC A50): the calls' outcomes are classified as a circuit breaker classifies them
/// (``OutcomeClassifier``), and
/// - ``consecutiveFailures`` failures in a row eject at once;
/// - every ``interval``, an endpoint whose share of failures reached ``FailurePercentage/threshold`` over
///   at least ``FailurePercentage/requestVolume`` calls is ejected (when at least
///   ``FailurePercentage/minimumHosts`` endpoints had that many calls).
///
/// An ejection lasts ``baseEjectionTime`` times the number of times the endpoint was ejected recently
/// (at most ``maxEjectionTime``; the count drops by one each ``interval`` the endpoint spends in), and
/// no ejection takes the ejected share past ``maxEjectionPercent`` of the endpoints, except that one
/// endpoint may always be ejected. The endpoint then returns by itself.
public struct OutlierDetectionPolicy: Sendable, Hashable {
    /// The failure-percentage rule.
    public struct FailurePercentage: Sendable, Hashable {
        /// The share of failures, in percent (0...100), at which an endpoint is ejected.
        public var threshold: Int
        /// The endpoints that must each have had ``requestVolume`` calls in the interval for the rule to run.
        public var minimumHosts: Int
        /// The calls an endpoint must have had in the interval to be judged.
        public var requestVolume: Int
        /// The chance, in percent, that an endpoint over the threshold is ejected.
        public var enforcementPercentage: Int

        /// Creates the rule; the defaults are gRFC A50's (85%, 5 hosts, 50 calls, always enforced).
        public init(threshold: Int = 85, minimumHosts: Int = 5, requestVolume: Int = 50, enforcementPercentage: Int = 100) {
            self.threshold = threshold
            self.minimumHosts = minimumHosts
            self.requestVolume = requestVolume
            self.enforcementPercentage = enforcementPercentage
        }
    }

    /// How often the failure-percentage rule runs and ejection counts decay (default 10 s).
    public var interval: Duration
    /// The length of a first ejection (default 30 s).
    public var baseEjectionTime: Duration
    /// The longest ejection (default 300 s, and never below ``baseEjectionTime``).
    public var maxEjectionTime: Duration
    /// The largest share of endpoints ejected at once, in percent (default 10); one endpoint may always be.
    public var maxEjectionPercent: Int
    /// Failures in a row that eject an endpoint at once (default 5); `nil` turns the rule off.
    public var consecutiveFailures: Int?
    /// The failure-percentage rule; `nil` (the default) turns it off.
    public var failurePercentage: FailurePercentage?
    /// How a call's end counts: failure, success or neither (default: the circuit breaker's defaults).
    public var classifier: OutcomeClassifier

    /// Creates a policy.
    public init(
        interval: Duration = .seconds(10),
        baseEjectionTime: Duration = .seconds(30),
        maxEjectionTime: Duration = .seconds(300),
        maxEjectionPercent: Int = 10,
        consecutiveFailures: Int? = 5,
        failurePercentage: FailurePercentage? = nil,
        classifier: OutcomeClassifier = .default
    ) {
        self.interval = interval
        self.baseEjectionTime = baseEjectionTime
        self.maxEjectionTime = maxEjectionTime
        self.maxEjectionPercent = maxEjectionPercent
        self.consecutiveFailures = consecutiveFailures
        self.failurePercentage = failurePercentage
        self.classifier = classifier
    }

    /// The first invalid value (`maxEjectionPercent: 120 is not in 0...100`), or nil.
    public var invalidReason: String? {
        if interval <= .zero { return "interval: \(interval) is not > 0" }
        if baseEjectionTime <= .zero { return "baseEjectionTime: \(baseEjectionTime) is not > 0" }
        if maxEjectionTime <= .zero { return "maxEjectionTime: \(maxEjectionTime) is not > 0" }
        if !(0...100).contains(maxEjectionPercent) { return "maxEjectionPercent: \(maxEjectionPercent) is not in 0...100" }
        if let consecutiveFailures, consecutiveFailures < 1 { return "consecutiveFailures: \(consecutiveFailures) is not >= 1" }
        if let rule = failurePercentage {
            if !(0...100).contains(rule.threshold) { return "failurePercentage.threshold: \(rule.threshold) is not in 0...100" }
            if !(0...100).contains(rule.enforcementPercentage) {
                return "failurePercentage.enforcementPercentage: \(rule.enforcementPercentage) is not in 0...100"
            }
            if rule.minimumHosts < 0 { return "failurePercentage.minimumHosts: \(rule.minimumHosts) is not >= 0" }
            if rule.requestVolume < 0 { return "failurePercentage.requestVolume: \(rule.requestVolume) is not >= 0" }
        }
        return nil
    }
}
