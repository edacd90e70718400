/// An instant on a breaker's own timeline: the time elapsed on its clock since the timeline began.
/// It lets a non-generic ``CircuitBreaker`` run on any `Clock<Duration>`.
struct BreakerInstant: InstantProtocol {
    var offset: Duration

    func advanced(by duration: Duration) -> BreakerInstant { BreakerInstant(offset: offset + duration) }
    func duration(to other: BreakerInstant) -> Duration { other.offset - offset }
    static func < (lhs: BreakerInstant, rhs: BreakerInstant) -> Bool { lhs.offset < rhs.offset }
}

/// Reads the current ``BreakerInstant`` from an erased clock.
struct BreakerTimeline: Sendable {
    let now: @Sendable () -> BreakerInstant

    init<C: Clock<Duration>>(_ clock: C) {
        let origin = clock.now
        now = { BreakerInstant(offset: origin.duration(to: clock.now)) }
    }
}
