/// Whether an event loop about to sleep first polls its descriptors without blocking, and for how long.
///
/// Why: on machines where a sleeping thread wakes slowly (virtual machines whose idle vCPUs halt at
/// once; a wake-up there costs tens of microseconds), a loop that keeps polling for a moment after each
/// turn picks up the next request or response without being woken. It spends CPU for latency, so it is
/// off unless asked for, and bounded by `budget`.
///
/// The window it polls for adapts, as KVM's halt polling does: it grows (from `growStart`, doubling, up
/// to the budget) while the next event comes within the budget, stays while polling finds it, and halves
/// (down to none) each time the loop then waits longer than the budget. So a loop under dense traffic
/// polls for the whole budget, and one whose events come farther apart than the budget stops polling and
/// costs nothing more than a loop without it.
///
/// A plain value; the loop reports what each wait took (`record`) and asks how long to poll
/// (`pollUntil`), with its clock's readings passed in.
struct IdlePoll: Sendable, Equatable {
    /// The longest budget accepted: a loop that polls longer than a timer's millisecond granularity
    /// would make its timers late by more than they already may be.
    static let maximum: Duration = .milliseconds(1)
    /// The first window after none.
    static let growStart: Duration = .microseconds(10)

    /// The longest the loop polls after a turn before it blocks; zero: never.
    let budget: Duration
    /// How long the loop polls after its next turn (0...budget).
    private(set) var window: Duration = .zero

    /// A budget of `budget`, clamped to `0...maximum`; the window starts closed.
    init(budget: Duration) {
        self.budget = min(max(budget, .zero), Self.maximum)
    }

    var isOff: Bool { budget == .zero }

    /// Until when a loop that ends a turn at `now`, and would then wait `timeoutMillis` (-1: until woken,
    /// 0: not at all), polls before it blocks; nil when it blocks at once (no window, or it was not going
    /// to wait).
    func pollUntil<Instant: InstantProtocol<Duration>>(now: Instant, timeoutMillis: Int32) -> Instant? {
        guard window > .zero, timeoutMillis != 0 else { return nil }
        return now.advanced(by: window)
    }

    /// What a wait took: `waited` from the end of the turn to the event (or timeout) that ended it,
    /// polling included, and whether the polling found it. Adapts the window.
    mutating func record(waited: Duration, foundByPolling: Bool) {
        guard !isOff, !foundByPolling else { return }
        if waited > budget {
            // Events farther apart than the budget: polling would not have caught this one.
            window = window / 2 < Self.growStart ? .zero : window / 2
        } else if window < budget {
            // A longer poll would have caught it.
            window = min(budget, window == .zero ? min(Self.growStart, budget) : window * 2)
        }
    }
}
