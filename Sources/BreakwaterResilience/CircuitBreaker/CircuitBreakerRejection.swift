import BreakwaterCore

/// The error for a call a circuit breaker rejected: which breaker, in which state, and when it will
/// admit a probe. No network I/O happened for the call.
///
/// Within gRPC it becomes ``BreakwaterCore/RPCError`` with code `UNAVAILABLE` (see ``rpcError``);
/// retry policies never retry it.
public struct CircuitBreakerRejection: Error, Sendable, Hashable, CustomStringConvertible {
    /// The breaker that rejected the call.
    public var key: BreakerKey
    /// The breaker's state: `OPEN`, `HALF_OPEN` (every probe slot taken) or `FORCED_OPEN`.
    public var state: CircuitState
    /// The time until the breaker admits a probe; `nil` when unknown (HALF_OPEN, FORCED_OPEN).
    ///
    /// As the cause of a gRPC call's `RPCError` (``CircuitBreaker/rejectionError(_:)``), it is that of the
    /// first rejection of the same tenth of a second before the probe, which all of them share: up to
    /// 0.1 s larger than the call's own. Events and observers get every rejection's own.
    public var retryAfter: Duration?

    /// Creates a rejection.
    public init(key: BreakerKey, state: CircuitState, retryAfter: Duration?) {
        self.key = key
        self.state = state
        self.retryAfter = retryAfter
    }

    /// A message such as `circuit breaker 'echo.Echo/Get' is OPEN; next probe in 12.3 s`.
    public var message: String {
        let head = "circuit breaker '\(key)' is \(state)"
        if let retryAfter { return "\(head); next probe in \(formatSeconds(retryAfter))" }
        switch state {
        case .halfOpen: return "\(head); all probe slots are in use"
        case .forcedOpen: return "\(head); held open by an operator"
        default: return head
        }
    }

    /// The gRPC error a call ends with: `UNAVAILABLE`, this message, and this rejection as its cause.
    public var rpcError: RPCError {
        RPCError(code: .unavailable, message: message, cause: self)
    }

    public var description: String { message }
}

extension RPCError {
    /// Whether this error is a circuit breaker's rejection (which must never be retried).
    public var isCircuitBreakerRejection: Bool { cause is CircuitBreakerRejection }
}
