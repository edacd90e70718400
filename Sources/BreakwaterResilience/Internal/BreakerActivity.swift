import Synchronization

/// How many breakers of a registry may reject a call now (any state but CLOSED and DISABLED).
///
/// A chain reads it before it builds a call: while it is zero, which is almost always, no breaker can
/// reject and the chain skips the per-method look-up that an early rejection needs, at the cost of one
/// relaxed atomic load per call.
final class BreakerActivity: Sendable {
    private let mayReject = Atomic<Int>(0)

    /// Whether some breaker may reject. A breaker that starts rejecting while a call reads this is seen by
    /// that call's `acquire()` instead.
    var anyMayReject: Bool { mayReject.load(ordering: .relaxed) > 0 }

    func change(by delta: Int) {
        mayReject.add(delta, ordering: .relaxed)
    }
}
