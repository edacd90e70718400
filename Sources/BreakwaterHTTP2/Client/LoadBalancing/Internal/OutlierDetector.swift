import BreakwaterCore

/// The per-endpoint ejection rules of ``OutlierDetectionPolicy`` as a plain value: no clock, no I/O.
/// The balancer reports each call's outcome (`record`) and the interval's end (`intervalElapsed`) with the
/// time; what comes back is the ejections and returns to carry out. Endpoints are the balancer's ids.
struct OutlierDetector: Sendable {
    struct Stats: Sendable {
        var successes = 0
        var failures = 0
        /// The interval before the current one, for the snapshot's recent failure rate.
        var previousSuccesses = 0
        var previousFailures = 0
        var consecutiveFailures = 0
        /// How many times in a row the endpoint was ejected recently; sets the next ejection's length.
        var ejections = 0
        var ejectedUntil: ContinuousClock.Instant?

        /// Failures over calls in this interval and the last one; nil without calls.
        var recentFailureRate: Double? {
            let failures = self.failures + previousFailures
            let calls = failures + successes + previousSuccesses
            return calls == 0 ? nil : Double(failures) / Double(calls)
        }
    }

    enum Event: Sendable, Equatable {
        case ejected(id: Int, until: ContinuousClock.Instant, reason: String)
        case returned(id: Int)
    }

    let policy: OutlierDetectionPolicy
    private(set) var stats: [Int: Stats] = [:]
    private(set) var ejectedCount = 0

    init(policy: OutlierDetectionPolicy) {
        self.policy = policy
    }

    mutating func add(_ id: Int) {
        if stats[id] == nil { stats[id] = Stats() }
    }

    mutating func remove(_ id: Int) {
        if stats.removeValue(forKey: id)?.ejectedUntil != nil { ejectedCount -= 1 }
    }

    func isEjected(_ id: Int) -> Bool { stats[id]?.ejectedUntil != nil }

    /// A call on `id` ended with `code`. Returns an ejection when the consecutive-failure rule fires.
    mutating func record(_ id: Int, code: Status.Code, now: ContinuousClock.Instant) -> Event? {
        guard var s = stats[id] else { return nil }
        switch policy.classifier.classify(code) {
        case .neutral:
            return nil
        case .success:
            s.successes += 1
            s.consecutiveFailures = 0
            stats[id] = s
            return nil
        case .failure:
            s.failures += 1
            s.consecutiveFailures += 1
            stats[id] = s
            guard let limit = policy.consecutiveFailures, s.consecutiveFailures >= limit, s.ejectedUntil == nil else { return nil }
            return eject(id, now: now, reason: "\(s.consecutiveFailures) consecutive failures")
        }
    }

    /// Whether one more ejection keeps the ejected share within the maximum (one is always allowed).
    private var mayEject: Bool {
        ejectedCount == 0 || (ejectedCount + 1) * 100 <= policy.maxEjectionPercent * stats.count
    }

    private mutating func eject(_ id: Int, now: ContinuousClock.Instant, reason: String) -> Event? {
        guard mayEject, var s = stats[id], s.ejectedUntil == nil else { return nil }
        s.ejections += 1
        let longest = max(policy.baseEjectionTime, policy.maxEjectionTime)
        let length = min(policy.baseEjectionTime * s.ejections, longest)
        let until = now + length
        s.ejectedUntil = until
        s.consecutiveFailures = 0
        stats[id] = s
        ejectedCount += 1
        return .ejected(id: id, until: until, reason: reason)
    }

    /// Ejected endpoints whose time is up at `now` return.
    mutating func returnsDue(now: ContinuousClock.Instant) -> [Event] {
        var events: [Event] = []
        for (id, s) in stats {
            if let until = s.ejectedUntil, until <= now {
                stats[id]?.ejectedUntil = nil
                ejectedCount -= 1
                events.append(.returned(id: id))
            }
        }
        return events.sorted { a, b in a.id < b.id }
    }

    /// The earliest return of an ejected endpoint.
    var nextReturn: ContinuousClock.Instant? {
        stats.values.compactMap(\.ejectedUntil).min()
    }

    /// The interval ended at `now`: endpoints whose time is up return, the failure-percentage rule runs
    /// over the interval's calls, ejection counts of endpoints that are in decay, and the counts start over.
    mutating func intervalElapsed(now: ContinuousClock.Instant, random: inout some RandomNumberGenerator) -> [Event] {
        var events = returnsDue(now: now)
        if let rule = policy.failurePercentage {
            let judged = stats.filter { $0.value.successes + $0.value.failures >= max(rule.requestVolume, 1) }
            if judged.count >= rule.minimumHosts {
                for (id, s) in judged.sorted(by: { $0.key < $1.key }) where s.ejectedUntil == nil {
                    let percent = s.failures * 100 / (s.successes + s.failures)
                    guard percent >= rule.threshold else { continue }
                    guard Int.random(in: 0..<100, using: &random) < rule.enforcementPercentage else { continue }
                    if let event = eject(id, now: now, reason: "\(percent)% of \(s.successes + s.failures) calls failed") {
                        events.append(event)
                    }
                }
            }
        }
        for id in stats.keys {
            guard var s = stats[id] else { continue }
            if s.ejectedUntil == nil && s.ejections > 0 { s.ejections -= 1 }
            s.previousSuccesses = s.successes
            s.previousFailures = s.failures
            s.successes = 0
            s.failures = 0
            stats[id] = s
        }
        return events
    }
}

extension OutlierDetector.Event {
    var id: Int {
        switch self {
        case .ejected(let id, _, _), .returned(let id): id
        }
    }
}
