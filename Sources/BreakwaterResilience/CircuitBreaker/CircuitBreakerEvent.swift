/// Something a circuit breaker reports: a state change or a rejected call.
public enum CircuitBreakerEvent: Sendable, Hashable, CustomStringConvertible {
    /// The breaker `key` changed state.
    case transition(key: BreakerKey, CircuitBreakerTransition)
    /// The breaker rejected a call.
    case rejection(CircuitBreakerRejection)

    /// The breaker the event is about.
    public var key: BreakerKey {
        switch self {
        case .transition(let key, _): key
        case .rejection(let rejection): rejection.key
        }
    }

    public var description: String {
        switch self {
        case .transition(let key, let t): "circuit breaker '\(key)': \(t)"
        case .rejection(let r): r.message
        }
    }
}
