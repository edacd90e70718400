/// Whether an event loop about to sleep first polls its descriptors without blocking, and until when.
///
/// Why: on machines where a sleeping thread wakes slowly (virtual machines whose idle vCPUs halt at
/// once; a wake-up there costs tens of microseconds), a loop that keeps polling for a moment after each
/// turn picks up the next request or response without being woken. It spends CPU for latency, so it is
/// off unless asked for, and bounded: after each turn the loop polls for at most `budget`, then blocks as
/// usual, so an idle loop costs one budget per event that woke it and nothing while nothing happens.
///
/// A plain value with the clock passed in: the loop asks it, then polls (`EventLoop.run`).
struct IdlePoll: Sendable, Equatable {
    /// The longest budget accepted: a loop that polls longer than a timer's millisecond granularity
    /// would make its timers late by more than they already may be.
    static let maximum: Duration = .milliseconds(1)

    /// How long the loop polls after a turn before it blocks; zero: never.
    let budget: Duration

    /// A budget of `budget`, clamped to `0...maximum`.
    init(budget: Duration) {
        self.budget = min(max(budget, .zero), Self.maximum)
    }

    /// No polling: the loop blocks as soon as it has nothing to do.
    static let off = IdlePoll(budget: .zero)

    var isOff: Bool { budget == .zero }

    /// Until when a loop that ends a turn at `now`, and would then wait `timeoutMillis` (-1: until woken,
    /// 0: not at all), polls before it blocks; nil when it blocks at once (no budget, or it was not going
    /// to wait).
    func pollUntil<Instant: InstantProtocol<Duration>>(now: Instant, timeoutMillis: Int32) -> Instant? {
        guard !isOff, timeoutMillis != 0 else { return nil }
        return now.advanced(by: budget)
    }
}
