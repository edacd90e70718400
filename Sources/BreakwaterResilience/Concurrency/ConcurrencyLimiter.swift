@_spi(Locking) import BreakwaterCore

/// The in-flight calls of one method and their limit, fixed or adaptive. Thread-safe: its state is
/// under one `TSanMutex`, taken once to admit a call and once to release it.
///
/// Time is passed in (offsets on one timeline), so the adaptive limit can be driven by a manual clock.
public final class ConcurrencyLimiter: Sendable {
    /// An admitted call's slot; give it back once with ``release(_:rtt:dropped:)``.
    public struct Permit: Sendable {
        /// Calls in flight when this one was admitted, itself included.
        public let inFlightAtStart: Int
    }

    private struct State {
        var inFlight = 0
        var gradient: GradientLimit?
        var fixed: Int
    }

    /// The policy.
    public let policy: ConcurrencyLimitPolicy
    private let state: TSanMutex<State>

    /// Creates a limiter with nothing in flight. Validate `policy` first (an invalid one is clamped:
    /// a fixed limit below 1 admits one call).
    public init(policy: ConcurrencyLimitPolicy) {
        self.policy = policy
        switch policy {
        case .fixed(let n): state = TSanMutex(State(gradient: nil, fixed: max(1, n)))
        case .adaptive(let configuration): state = TSanMutex(State(gradient: GradientLimit(configuration: configuration), fixed: 0))
        }
    }

    /// The current limit.
    public var limit: Int { state.withLock { Self.limit(of: $0) } }
    /// Calls in flight now.
    public var inFlight: Int { state.withLock { $0.inFlight } }

    private static func limit(of state: State) -> Int { state.gradient?.limit ?? state.fixed }

    /// Admits a call if fewer than the limit are in flight.
    public func tryAcquire() -> Permit? {
        state.withLock { s in
            guard s.inFlight < Self.limit(of: s) else { return nil }
            s.inFlight += 1
            return Permit(inFlightAtStart: s.inFlight)
        }
    }

    /// Gives a slot back.
    /// - Parameters:
    ///   - permit: The permit ``tryAcquire()`` gave for the call.
    ///   - rtt: The call's latency, a sample for an adaptive limit; `nil`: no sample (a call the caller
    ///     cancelled says nothing about the backend).
    ///   - dropped: Whether the call ended as a sign of overload.
    public func release(_ permit: Permit, rtt: Duration?, dropped: Bool) {
        state.withLock { s in
            s.inFlight -= 1
            if let rtt { s.gradient?.record(rtt: rtt, inFlight: permit.inFlightAtStart, dropped: dropped) }
        }
    }
}
