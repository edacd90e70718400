import BreakwaterCore

/// The circuit breaker's rules as a plain value type: no locks, no clock, no I/O.
///
/// Callers pass the current time on every call (any monotonic `InstantProtocol` whose duration is
/// `Duration`) and act on what comes back: an admission decision and, at most, one transition.
/// ``CircuitBreaker`` wraps it in a lock; tests drive it directly.
///
/// Every state change bumps the ``generation``. A permit carries the generation it was admitted
/// in, and a result for a permit of another generation is ignored, so a late result can neither
/// close nor reopen a breaker it was not admitted by.
public struct CircuitBreakerStateMachine<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    /// The right to make one call; hand it back with the call's outcome.
    public struct Permit: Sendable, Hashable {
        /// The generation the call was admitted in.
        public let generation: UInt64
        /// Nonzero for a half-open probe: the probe's slot id.
        let probeID: UInt64
        /// When the call was admitted; the slow-call rule measures from here.
        public let admittedAt: Instant

        /// Whether the call was admitted as a half-open probe.
        public var isProbe: Bool { probeID != 0 }

        init(generation: UInt64, probeID: UInt64, admittedAt: Instant) {
            self.generation = generation
            self.probeID = probeID
            self.admittedAt = admittedAt
        }
    }

    /// The answer to a request to make a call.
    public enum Decision: Sendable, Hashable {
        /// The call may go ahead.
        case admitted(Permit)
        /// The call is rejected. `retryAfter` is the time until a probe will be admitted, when known
        /// (OPEN); `nil` in HALF_OPEN with every probe slot taken and in FORCED_OPEN.
        case rejected(state: CircuitState, retryAfter: Duration?)
    }

    private struct Probe: Sendable {
        var id: UInt64
        var leaseExpiry: Instant
    }

    /// The policy the machine applies.
    public let policy: CircuitBreakerPolicy
    /// The current state.
    public private(set) var state: CircuitState = .closed
    /// The current generation; starts at 1 and grows by one with every transition.
    public private(set) var generation: UInt64 = 1

    private var consecutiveFailures = 0
    private var window: SlidingWindow<Instant>?
    private var consecutiveTrips = 0
    private var openUntil: Instant?
    private var probes: [Probe] = []
    private var nextProbeID: UInt64 = 1
    private var probeSuccesses = 0
    private var totals = CircuitBreakerSnapshot.Totals()
    private let random: @Sendable () -> Double

    /// Creates a CLOSED machine.
    ///
    /// - Parameters:
    ///   - policy: The rules; must pass ``CircuitBreakerPolicy/validate()``.
    ///   - random: Returns a number in [0, 1] for open-duration jitter; called only when the
    ///     breaker trips and the policy has jitter.
    public init(
        policy: CircuitBreakerPolicy,
        random: @escaping @Sendable () -> Double = { Double.random(in: 0...1) }
    ) {
        self.policy = policy
        self.random = random
        self.window = policy.usesWindow ? SlidingWindow(policy.slidingWindow) : nil
        // Bounded: halfOpenProbes is any positive Int, and a service config may say 10^14.
        self.probes.reserveCapacity(min(policy.halfOpenProbes, 16))
    }

    // MARK: Calls

    /// Asks to make a call at `now`.
    ///
    /// In OPEN, once the open duration has elapsed, this moves to HALF_OPEN and admits the call as
    /// the first probe. In HALF_OPEN, probe slots whose lease expired are reclaimed first.
    public mutating func acquire(at now: Instant) -> (decision: Decision, transition: CircuitBreakerTransition?) {
        switch state {
        case .closed, .disabled:
            return (.admitted(Permit(generation: generation, probeID: 0, admittedAt: now)), nil)
        case .forcedOpen:
            totals.rejected += 1
            return (.rejected(state: .forcedOpen, retryAfter: nil), nil)
        case .open:
            let until = openUntil ?? now
            if now < until {
                totals.rejected += 1
                return (.rejected(state: .open, retryAfter: now.duration(to: until)), nil)
            }
            let transition = move(to: .halfOpen, reason: .openDurationElapsed)
            return (admitProbe(at: now), transition)
        case .halfOpen:
            return (admitProbe(at: now), nil)
        }
    }

    /// The rejection ``acquire(at:)`` would give at `now`, counted as that one is; `nil` when it would admit
    /// a call or make a transition, and then nothing changes (except that expired probe leases are
    /// reclaimed, as `acquire` would).
    public mutating func rejection(at now: Instant) -> Decision? {
        switch state {
        case .closed, .disabled:
            return nil
        case .forcedOpen:
            totals.rejected += 1
            return .rejected(state: .forcedOpen, retryAfter: nil)
        case .open:
            guard let until = openUntil, now < until else { return nil }
            totals.rejected += 1
            return .rejected(state: .open, retryAfter: now.duration(to: until))
        case .halfOpen:
            let before = probes.count
            probes.removeAll { $0.leaseExpiry <= now }
            totals.reclaimedProbes += before - probes.count
            guard probes.count >= policy.halfOpenProbes else { return nil }
            totals.rejected += 1
            return .rejected(state: .halfOpen, retryAfter: nil)
        }
    }

    private mutating func admitProbe(at now: Instant) -> Decision {
        let before = probes.count
        probes.removeAll { $0.leaseExpiry <= now }
        totals.reclaimedProbes += before - probes.count
        guard probes.count < policy.halfOpenProbes else {
            totals.rejected += 1
            return .rejected(state: .halfOpen, retryAfter: nil)
        }
        let id = nextProbeID
        nextProbeID += 1
        probes.append(Probe(id: id, leaseExpiry: now.advanced(by: policy.probeLease)))
        return .admitted(Permit(generation: generation, probeID: id, admittedAt: now))
    }

    /// Records the outcome of a call admitted with `permit`, finished at `now`.
    ///
    /// Returns the transition it caused, if any. A permit from another generation, or a probe
    /// whose slot was reclaimed, is ignored.
    @discardableResult
    public mutating func record(
        _ outcome: CallOutcome,
        for permit: Permit,
        at now: Instant
    ) -> CircuitBreakerTransition? {
        guard permit.generation == generation else {
            totals.ignored += 1
            return nil
        }
        switch state {
        case .disabled:
            count(outcome)
            return nil
        case .closed:
            count(outcome)
            return recordClosed(outcome, duration: permit.admittedAt.duration(to: now), at: now)
        case .halfOpen:
            guard let index = probes.firstIndex(where: { $0.id == permit.probeID }) else {
                totals.ignored += 1
                return nil
            }
            count(outcome)
            probes.remove(at: index)
            switch outcome {
            case .neutral:
                return nil
            case .failure:
                return trip(reason: .probeFailed, at: now)
            case .success:
                probeSuccesses += 1
                guard probeSuccesses >= policy.successThreshold else { return nil }
                return move(to: .closed, reason: .probesSucceeded(probeSuccesses))
            }
        case .open, .forcedOpen:
            // No permit is issued in these states, so none can match the generation.
            totals.ignored += 1
            return nil
        }
    }

    /// Whether recording `outcome` for `permit` now would read its instant: to time a slow call, to count
    /// it in a sliding window, or for the transition it causes. When not (a success or a failure short of
    /// the trip in CLOSED without a window: the common case), the caller may skip reading the clock and
    /// pass any instant, such as `permit.admittedAt`.
    func recordUsesTime(_ outcome: CallOutcome, for permit: Permit) -> Bool {
        guard permit.generation == generation else { return false }
        switch state {
        case .disabled, .open, .forcedOpen:
            return false
        case .halfOpen:
            return true
        case .closed:
            if window != nil { return true }
            guard outcome == .failure, let limit = policy.consecutiveFailures else { return false }
            return consecutiveFailures + 1 >= limit
        }
    }

    /// Whether a permit's admission time is ever read: only to time a call for the slow-call rule.
    var admissionUsesTime: Bool { window != nil && policy.slowCallDurationThreshold != nil }

    private mutating func count(_ outcome: CallOutcome) {
        switch outcome {
        case .success: totals.successes += 1
        case .failure: totals.failures += 1
        case .neutral: totals.neutral += 1
        }
    }

    private mutating func recordClosed(
        _ outcome: CallOutcome,
        duration: Duration,
        at now: Instant
    ) -> CircuitBreakerTransition? {
        switch outcome {
        case .neutral: return nil
        case .success: consecutiveFailures = 0
        case .failure: consecutiveFailures += 1
        }
        if let limit = policy.consecutiveFailures, consecutiveFailures >= limit {
            return trip(reason: .consecutiveFailures(consecutiveFailures), at: now)
        }
        guard window != nil else { return nil }
        let slow = policy.slowCallDurationThreshold.map { duration > $0 } ?? false
        window!.record(failure: outcome == .failure, slow: slow, at: now)
        let w = window!
        guard w.calls >= policy.minimumCalls else { return nil }
        if let threshold = policy.failureRateThreshold {
            let rate = Double(w.failures) / Double(w.calls)
            if rate >= threshold { return trip(reason: .failureRate(rate), at: now) }
        }
        if let threshold = policy.slowCallRateThreshold, policy.slowCallDurationThreshold != nil {
            let rate = Double(w.slowCalls) / Double(w.calls)
            if rate >= threshold { return trip(reason: .slowCallRate(rate), at: now) }
        }
        return nil
    }

    // MARK: Operators

    /// Holds the breaker open, rejecting every call, until ``reset()``.
    @discardableResult
    public mutating func forceOpen() -> CircuitBreakerTransition? {
        state == .forcedOpen ? nil : move(to: .forcedOpen, reason: .forcedOpen)
    }

    /// Switches the breaker off: every call is admitted and no rule applies, until ``reset()``.
    @discardableResult
    public mutating func disable() -> CircuitBreakerTransition? {
        state == .disabled ? nil : move(to: .disabled, reason: .disabled)
    }

    /// Returns to a fresh CLOSED state: counts, open-duration growth and probes are forgotten, and
    /// the generation moves on so that calls in flight no longer count. Returns `nil` when the
    /// breaker was already CLOSED (it is still cleared).
    @discardableResult
    public mutating func reset() -> CircuitBreakerTransition? {
        let from = state
        let transition = move(to: .closed, reason: .reset)
        consecutiveTrips = 0
        return from == .closed ? nil : transition
    }

    // MARK: Inspection

    /// The time until a probe will be admitted: in OPEN, the rest of the open duration; otherwise `nil`.
    public func timeUntilProbe(at now: Instant) -> Duration? {
        guard state == .open, let until = openUntil else { return nil }
        return max(.zero, now.duration(to: until))
    }

    /// A snapshot of the state and counts at `now`.
    public func snapshot(key: BreakerKey, at now: Instant) -> CircuitBreakerSnapshot {
        var window = self.window
        window?.advance(to: now)
        return CircuitBreakerSnapshot(
            key: key,
            state: state,
            generation: generation,
            consecutiveFailures: consecutiveFailures,
            windowCalls: window?.calls ?? 0,
            windowFailures: window?.failures ?? 0,
            windowSlowCalls: window?.slowCalls ?? 0,
            probesInFlight: probes.count { $0.leaseExpiry > now },
            probeSuccesses: probeSuccesses,
            consecutiveTrips: consecutiveTrips,
            timeUntilProbe: timeUntilProbe(at: now),
            totals: totals
        )
    }

    /// The open duration for the given trip number (1 for the first trip since the breaker was
    /// last closed), before jitter: `openDuration × multiplier^(trip-1)`, capped at `maxOpenDuration`.
    public func baseOpenDuration(forTrip trip: Int) -> Duration {
        // Without a cap, growth stops at a day: long enough for any breaker, far from overflow.
        let cap = policy.maxOpenDuration ?? max(policy.openDuration, .seconds(86_400))
        var duration = policy.openDuration
        for _ in 1..<max(trip, 1) {
            guard duration < cap else { break }
            // Compared as a ratio first: `Duration * Double` traps once the product leaves Int128, and a
            // service config may ask for a multiplier of 1e22.
            guard duration / cap * policy.openDurationMultiplier < 1 else { return cap }
            duration = duration * policy.openDurationMultiplier
        }
        return min(duration, cap)
    }

    // MARK: Transitions

    private mutating func trip(
        reason: CircuitBreakerTransition.Reason,
        at now: Instant
    ) -> CircuitBreakerTransition {
        consecutiveTrips += 1
        var duration = baseOpenDuration(forTrip: consecutiveTrips)
        if policy.jitter > 0 {
            let r = min(max(random(), 0), 1)
            duration = duration * (1 - policy.jitter * r)
        }
        openUntil = now.advanced(by: duration)
        return move(to: .open, reason: reason)
    }

    private mutating func move(
        to newState: CircuitState,
        reason: CircuitBreakerTransition.Reason
    ) -> CircuitBreakerTransition {
        let from = state
        state = newState
        generation &+= 1
        probes.removeAll(keepingCapacity: true)
        probeSuccesses = 0
        switch newState {
        case .closed:
            consecutiveFailures = 0
            consecutiveTrips = 0
            openUntil = nil
            window?.reset()
        case .open:
            break
        case .halfOpen, .forcedOpen, .disabled:
            openUntil = nil
        }
        return CircuitBreakerTransition(from: from, to: newState, reason: reason, generation: generation)
    }
}
