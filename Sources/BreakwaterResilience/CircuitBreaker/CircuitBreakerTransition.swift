/// A change of a circuit breaker's state: from, to, and why.
public struct CircuitBreakerTransition: Sendable, Hashable, CustomStringConvertible {
    /// Why a breaker changed state.
    public enum Reason: Sendable, Hashable, CustomStringConvertible {
        /// That many failures in a row (CLOSED to OPEN).
        case consecutiveFailures(Int)
        /// The failure rate over the window reached the threshold (CLOSED to OPEN).
        case failureRate(Double)
        /// The slow-call rate over the window reached the threshold (CLOSED to OPEN).
        case slowCallRate(Double)
        /// The open duration elapsed and a call arrived (OPEN to HALF_OPEN).
        case openDurationElapsed
        /// A probe failed (HALF_OPEN to OPEN).
        case probeFailed
        /// That many probes in a row succeeded (HALF_OPEN to CLOSED).
        case probesSucceeded(Int)
        /// An operator forced the breaker open.
        case forcedOpen
        /// An operator disabled the breaker.
        case disabled
        /// An operator reset the breaker to CLOSED.
        case reset

        public var description: String {
            switch self {
            case .consecutiveFailures(let n): "\(n) consecutive failures"
            case .failureRate(let r): "failure rate \(percent(r)) reached the threshold"
            case .slowCallRate(let r): "slow-call rate \(percent(r)) reached the threshold"
            case .openDurationElapsed: "open duration elapsed"
            case .probeFailed: "a probe failed"
            case .probesSucceeded(let n): "\(n) consecutive probes succeeded"
            case .forcedOpen: "forced open by an operator"
            case .disabled: "disabled by an operator"
            case .reset: "reset by an operator"
            }
        }

        private func percent(_ rate: Double) -> String {
            "\(Int((rate * 100).rounded()))%"
        }
    }

    /// The state before.
    public var from: CircuitState
    /// The state after.
    public var to: CircuitState
    /// Why.
    public var reason: Reason
    /// The breaker's generation after the transition; permits from earlier generations no longer count.
    public var generation: UInt64

    /// Creates a transition.
    public init(from: CircuitState, to: CircuitState, reason: Reason, generation: UInt64) {
        self.from = from
        self.to = to
        self.reason = reason
        self.generation = generation
    }

    public var description: String { "\(from) -> \(to) (\(reason))" }
}
