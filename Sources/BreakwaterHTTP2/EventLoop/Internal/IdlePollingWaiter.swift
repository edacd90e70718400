import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An event loop's waits for I/O: blocking ones, preceded by polling while `IdlePoll` says so, which is
/// then told how long each wait took. The loop's own thread calls `wait`, between its turns; the counters
/// are atomic, for tests on other threads.
///
/// A caller that hands the loop work while it polls still writes the loop's wake-up descriptor (the queue
/// says the loop sleeps), which the next poll finds: cheap, as no thread has to be woken, and the loop
/// needs no other check.
final class IdlePollingWaiter {
    /// The adaptive window. The loop's own thread only.
    private var policy: IdlePoll
    /// Non-blocking polls made while idle, and the blocking waits that followed polls that found nothing
    /// (for tests: a loop that polls is seen to poll, and to sleep in the end).
    let polls = Atomic<Int>(0)
    let sleptAfterPolling = Atomic<Int>(0)

    /// The policy's budget, for any thread (the policy itself changes as the loop waits).
    let budget: Duration

    init(_ policy: IdlePoll) {
        self.policy = policy
        budget = policy.budget
    }

    /// Waits on `poller` up to `timeoutMillis` (-1: until woken); returns how many descriptors are ready.
    func wait(_ poller: EpollPoller, timeoutMillis: Int32) -> Int {
        // Without a budget, or when not waiting at all, nothing to decide or learn.
        guard !policy.isOff, timeoutMillis != 0 else { return poller.wait(timeoutMillis: timeoutMillis) }
        let start = ContinuousClock.now
        if let deadline = policy.pollUntil(now: start, timeoutMillis: timeoutMillis) {
            var count = 0
            var ready = 0
            repeat {
                ready = poller.wait(timeoutMillis: 0)
                count += 1
                if ready > 0 { break }
                sched_yield()
            } while ContinuousClock.now < deadline
            polls.wrappingAdd(count, ordering: .relaxed)
            // Found by polling: the window stays as it is (nothing to record).
            if ready > 0 { return ready }
            sleptAfterPolling.wrappingAdd(1, ordering: .relaxed)
        }
        // A timer due within the wait is late by at most the window (under 1 ms; timeouts are whole ms).
        let ready = poller.wait(timeoutMillis: timeoutMillis)
        policy.record(waited: start.duration(to: .now), foundByPolling: false)
        return ready
    }
}
