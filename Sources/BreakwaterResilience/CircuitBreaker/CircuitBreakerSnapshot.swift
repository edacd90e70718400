/// A point-in-time view of one circuit breaker: its state and counts.
public struct CircuitBreakerSnapshot: Sendable, Hashable, CustomStringConvertible {
    /// Running totals since the breaker was created.
    public struct Totals: Sendable, Hashable {
        /// Outcomes recorded as successes.
        public var successes = 0
        /// Outcomes recorded as failures.
        public var failures = 0
        /// Outcomes recorded as neutral.
        public var neutral = 0
        /// Calls rejected.
        public var rejected = 0
        /// Results ignored because their permit came from an older generation or a reclaimed probe.
        public var ignored = 0
        /// Probe slots reclaimed because their lease expired.
        public var reclaimedProbes = 0

        /// Creates zero totals.
        public init() {}
    }

    /// The breaker's key.
    public var key: BreakerKey
    /// The current state.
    public var state: CircuitState
    /// The current generation.
    public var generation: UInt64
    /// Failures in a row while CLOSED.
    public var consecutiveFailures: Int
    /// Counted calls in the sliding window (0 when no rate rule is set).
    public var windowCalls: Int
    /// Failures in the sliding window.
    public var windowFailures: Int
    /// Slow calls in the sliding window.
    public var windowSlowCalls: Int
    /// Probes holding a slot in HALF_OPEN.
    public var probesInFlight: Int
    /// Successful probes in a row in HALF_OPEN.
    public var probeSuccesses: Int
    /// Trips since the breaker last closed; drives open-duration growth.
    public var consecutiveTrips: Int
    /// In OPEN, the time until the next call will be admitted as a probe; otherwise `nil`.
    public var timeUntilProbe: Duration?
    /// Running totals.
    public var totals: Totals

    public var description: String {
        var text = "\(key): \(state) gen \(generation)"
        if let t = timeUntilProbe { text += ", next probe in \(formatSeconds(t))" }
        text += ", ok \(totals.successes) failed \(totals.failures) neutral \(totals.neutral)"
        text += " rejected \(totals.rejected)"
        return text
    }
}
