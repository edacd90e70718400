/// An injected `Clock<Duration>`, erased: reads elapsed time and sleeps. Interceptors use it for
/// backoffs and for the time that passed within a call; deadlines stay on `ContinuousClock`, where
/// the transport enforces them.
struct InterceptorClock: Sendable {
    private let timeline: BreakerTimeline
    private let sleeper: @Sendable (Duration) async throws -> Void

    init<C: Clock<Duration>>(_ clock: C) {
        timeline = BreakerTimeline(clock)
        sleeper = { duration in try await clock.sleep(until: clock.now.advanced(by: duration), tolerance: nil) }
    }

    /// The time elapsed on the clock since this value was made.
    func elapsed() -> Duration { timeline.now().offset }

    /// Sleeps for `duration` on the clock; throws `CancellationError` when the task is cancelled
    /// (as clocks that honour cancellation do).
    func sleep(for duration: Duration) async throws {
        try await sleeper(duration)
    }
}
