/// The state of a circuit breaker.
///
/// `closed`, `open` and `halfOpen` are driven by call outcomes and time; `forcedOpen` and `disabled`
/// are set by an operator and left only through ``CircuitBreakerStateMachine/reset()``.
public enum CircuitState: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Calls flow; outcomes are counted against the trip rules.
    case closed = 0
    /// Calls are rejected at once until the open duration has elapsed.
    case open = 1
    /// A bounded number of probe calls are admitted to test whether the remote has recovered.
    case halfOpen = 2
    /// An operator holds the breaker open; every call is rejected until reset.
    case forcedOpen = 3
    /// An operator switched the breaker off; every call is admitted and nothing is counted.
    case disabled = 4

    /// The upper-case name used in logs, errors and events, e.g. `"HALF_OPEN"`.
    public var name: String {
        switch self {
        case .closed: "CLOSED"
        case .open: "OPEN"
        case .halfOpen: "HALF_OPEN"
        case .forcedOpen: "FORCED_OPEN"
        case .disabled: "DISABLED"
        }
    }

    public var description: String { name }
}
