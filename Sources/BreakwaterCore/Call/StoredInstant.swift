/// A `ContinuousClock.Instant` stored as its offset from one instant of this process.
///
/// `ContinuousClock.Instant` is not frozen: outside the standard library its size is known only at run
/// time, and so is the size of every struct that stores one. Such a struct is copied and destroyed
/// through its runtime value witnesses, and each one an async function keeps across an `await` gets a
/// frame allocation of its own. `ClientContext` and `CallOptions` are copied several times per call by
/// every interceptor, so they keep their deadlines in this fixed-size form (a `Duration`, which is frozen)
/// and convert at the edges, where a deadline is read or set.
struct StoredInstant: Sendable, Hashable, Comparable {
    /// The instant offsets count from: the first use in this process.
    private static let origin = ContinuousClock.now

    private var offset: Duration

    init(_ instant: ContinuousClock.Instant) {
        offset = Self.origin.duration(to: instant)
    }

    var instant: ContinuousClock.Instant { Self.origin.advanced(by: offset) }

    /// This instant moved by `duration`, without a round trip through `ContinuousClock.Instant`.
    func advanced(by duration: Duration) -> StoredInstant {
        var moved = self
        moved.offset += duration
        return moved
    }

    static func < (lhs: StoredInstant, rhs: StoredInstant) -> Bool { lhs.offset < rhs.offset }
}
