import BreakwaterTestSupport
import Synchronization
import Testing

@testable import BreakwaterResilience

/// A breaker reads its clock only where the time matters: a CLOSED call that succeeds, or fails short of
/// the trip, costs no clock read; the trip, a window and the slow-call rule still see the real time.
@Suite("CircuitBreaker clock reads")
struct CircuitBreakerClockReadTests {
    /// A manual clock that counts how often it is read.
    final class CountingClock: Clock, Sendable {
        let base = ManualClock()
        private let count = Atomic(0)
        var reads: Int { count.load(ordering: .relaxed) }
        var now: ManualClock.Instant {
            count.wrappingAdd(1, ordering: .relaxed)
            return base.now
        }
        var minimumResolution: Duration { .zero }
        func sleep(until deadline: ManualClock.Instant, tolerance: Duration?) async throws {
            try await base.sleep(until: deadline, tolerance: tolerance)
        }
    }

    @Test("CLOSED successes and failures short of the trip read no clock; the trip is timed at its own instant")
    func closedRecordsReadTheClockOnlyToTrip() throws {
        let clock = CountingClock()
        let policy = CircuitBreakerPolicy(consecutiveFailures: 3, openDuration: .seconds(10), jitter: 0)
        let breaker = try CircuitBreaker(name: "reads", policy: policy, clock: clock, random: { 0 })
        let before = clock.reads
        for _ in 0..<10 { breaker.record(.success, for: try breaker.acquire()) }
        breaker.record(.failure, for: try breaker.acquire())
        breaker.record(.failure, for: try breaker.acquire())
        #expect(clock.reads == before)

        clock.base.advance(by: .seconds(5))
        breaker.record(.failure, for: try breaker.acquire())  // the third: trips at t = 5 s
        #expect(breaker.currentState == .open)
        #expect(clock.reads > before)
        // Open for 10 s from the trip: had the trip been stamped with any other instant (the permit's
        // unread admission time is zero), the countdown would not be 10 s at t = 5 s.
        #expect(breaker.rejectionIfRejecting()?.retryAfter == .seconds(10))
    }

    @Test("with the slow-call rule, admissions are timed: fast calls late in the clock's life are fast, slow ones slow")
    func slowCallRuleStillTimesCalls() throws {
        let clock = CountingClock()
        let policy = CircuitBreakerPolicy(
            consecutiveFailures: nil, slidingWindow: .count(4), minimumCalls: 4,
            slowCallDurationThreshold: .seconds(1), slowCallRateThreshold: 0.5, jitter: 0)
        let breaker = try CircuitBreaker(name: "slow", policy: policy, clock: clock, random: { 0 })
        // Measured from an unread (zero) admission time, these would take 10 s each and trip the breaker.
        clock.base.advance(by: .seconds(10))
        for _ in 0..<4 { breaker.record(.success, for: try breaker.acquire()) }
        #expect(breaker.currentState == .closed)
        for _ in 0..<2 {
            let permit = try breaker.acquire()
            clock.base.advance(by: .seconds(2))
            breaker.record(.success, for: permit)
        }
        #expect(breaker.currentState == .open)
    }
}
