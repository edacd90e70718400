import BreakwaterTestSupport

/// The resilience tests' manual clock: the shared `SteppingClock`.
typealias ManualClock = SteppingClock

extension SteppingClock.Instant {
    /// The instant `seconds` after the clock's start.
    static func at(_ seconds: Double) -> Self { Self(offset: .seconds(seconds)) }
}
