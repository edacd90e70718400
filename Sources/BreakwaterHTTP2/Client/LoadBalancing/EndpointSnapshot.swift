/// One endpoint of a load-balanced transport as it is now: see
/// ``HTTP2ClientTransport/endpointSnapshots()``.
public struct EndpointSnapshot: Sendable, CustomStringConvertible {
    /// The endpoint.
    public var endpoint: Endpoint
    /// Its connection's state.
    public var connectivity: ConnectivityState
    /// When it is ejected: the instant it returns.
    public var ejectedUntil: ContinuousClock.Instant?
    /// How many times it was ejected recently (the next ejection lasts that many base ejection times
    /// more); 0 without outlier detection.
    public var recentEjections: Int
    /// Calls sent to it that have not ended.
    public var outstandingCalls: Int
    /// Calls sent to it since it was added.
    public var totalCalls: Int
    /// The share of its calls that failed in the current and the previous outlier-detection interval; nil
    /// without calls or without outlier detection.
    public var recentFailureRate: Double?
    /// What its health checks say: true while SERVING (or the server has no health service), false
    /// otherwise; nil when health is not checked.
    public var serving: Bool?

    /// `127.0.0.2:50051 READY, 3 in flight, failure rate 0.0` (and `ejected for 12.5 s`).
    public var description: String {
        var text = "\(endpoint) \(connectivity), \(totalCalls) calls, \(outstandingCalls) in flight"
        if let recentFailureRate { text += ", failure rate \(Double(Int(recentFailureRate * 1000)) / 1000)" }
        if let serving { text += serving ? ", serving" : ", NOT SERVING" }
        if let ejectedUntil {
            let left = ContinuousClock.now.duration(to: ejectedUntil)
            text += ", ejected for \(left > .zero ? left : .zero)"
        }
        return text
    }
}

/// Something that happened to one endpoint of a load-balanced transport: see
/// ``HTTP2ClientTransport/endpointEvents(bufferingNewest:)``.
public struct EndpointEvent: Sendable, CustomStringConvertible {
    /// What happened.
    public enum Kind: Sendable {
        /// A resolution brought the endpoint: it has a connection now.
        case added
        /// A resolution dropped the endpoint: its calls in flight finish, it takes no new ones.
        case removed
        /// Its connection's state changed.
        case connectivity(ConnectivityStateChange)
        /// Outlier detection ejected it until the instant given, for the reason given.
        case ejected(until: ContinuousClock.Instant, reason: String)
        /// Its ejection ended: it takes calls again.
        case returned
        /// Its health check answered: it takes calls while `serving`, none otherwise.
        case health(serving: Bool)
    }

    /// The endpoint.
    public var endpoint: Endpoint
    /// What happened.
    public var kind: Kind

    /// `127.0.0.2:50051 ejected for 30 s: 5 consecutive failures`.
    public var description: String {
        switch kind {
        case .added: "\(endpoint) added"
        case .removed: "\(endpoint) removed"
        case .connectivity(let change): "\(endpoint) \(change)"
        case .ejected(let until, let reason):
            "\(endpoint) ejected for \(ContinuousClock.now.duration(to: until).roundedToMilliseconds): \(reason)"
        case .returned: "\(endpoint) returned"
        case .health(let serving): "\(endpoint) health: \(serving ? "SERVING" : "NOT_SERVING")"
        }
    }
}

extension Duration {
    fileprivate var roundedToMilliseconds: Duration {
        let ms = components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
        return .milliseconds(max(ms, 0))
    }
}
