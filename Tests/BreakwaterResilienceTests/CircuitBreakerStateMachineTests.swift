import BreakwaterCore
import Testing

@testable import BreakwaterResilience

typealias Machine = CircuitBreakerStateMachine<ManualClock.Instant>
typealias Instant = ManualClock.Instant

/// Drives a state machine with a moving time, for short tests.
struct Driver {
    var machine: Machine
    var now = Instant(offset: .zero)
    var transitions: [CircuitBreakerTransition] = []

    init(_ policy: CircuitBreakerPolicy, random: @escaping @Sendable () -> Double = { 0 }) {
        machine = Machine(policy: policy, random: random)
    }

    mutating func advance(_ duration: Duration) { now = now.advanced(by: duration) }

    /// Acquires a permit, expecting admission.
    mutating func admit(sourceLocation: SourceLocation = #_sourceLocation) -> Machine.Permit? {
        let (decision, transition) = machine.acquire(at: now)
        if let transition { transitions.append(transition) }
        guard case .admitted(let permit) = decision else {
            Issue.record("expected admission, got \(decision)", sourceLocation: sourceLocation)
            return nil
        }
        return permit
    }

    /// Acquires, expecting a rejection; returns its retry-after.
    @discardableResult
    mutating func reject(sourceLocation: SourceLocation = #_sourceLocation) -> (CircuitState, Duration?)? {
        let (decision, transition) = machine.acquire(at: now)
        if let transition { transitions.append(transition) }
        guard case .rejected(let state, let retryAfter) = decision else {
            Issue.record("expected rejection, got \(decision)", sourceLocation: sourceLocation)
            return nil
        }
        return (state, retryAfter)
    }

    mutating func record(_ outcome: CallOutcome, _ permit: Machine.Permit?) {
        guard let permit else { return }
        if let t = machine.record(outcome, for: permit, at: now) { transitions.append(t) }
    }

    /// One call, admitted and finished at once.
    mutating func call(_ outcome: CallOutcome, taking duration: Duration = .zero) {
        let permit = admit()
        advance(duration)
        record(outcome, permit)
    }
}

@Suite("Circuit breaker state machine")
struct CircuitBreakerStateMachineTests {
    @Test("defaults are the classic ones")
    func defaults() {
        let p = CircuitBreakerPolicy()
        #expect(p.consecutiveFailures == 5)
        #expect(p.openDuration == .seconds(60))
        #expect(p.halfOpenProbes == 1)
        #expect(p.successThreshold == 2)
        #expect(throws: Never.self) { try p.validate() }
    }

    @Test("five consecutive failures trip; a success in between resets the count")
    func consecutiveFailures() {
        var d = Driver(CircuitBreakerPolicy())
        for _ in 0..<4 { d.call(.failure) }
        d.call(.success)
        for _ in 0..<4 { d.call(.failure) }
        #expect(d.machine.state == .closed)
        d.call(.failure)
        #expect(d.machine.state == .open)
        #expect(d.transitions == [
            CircuitBreakerTransition(from: .closed, to: .open, reason: .consecutiveFailures(5), generation: 2)
        ])
    }

    @Test("OPEN rejects with the time until the probe, then HALF_OPEN admits a probe")
    func openThenHalfOpen() {
        var d = Driver(CircuitBreakerPolicy(consecutiveFailures: 1))
        d.call(.failure)
        d.advance(.seconds(20))
        let rejection = d.reject()
        #expect(rejection?.0 == .open)
        #expect(rejection?.1 == .seconds(40))
        #expect(d.machine.timeUntilProbe(at: d.now) == .seconds(40))
        d.advance(.seconds(40))
        let probe = d.admit()
        #expect(probe?.isProbe == true)
        #expect(d.machine.state == .halfOpen)
        #expect(d.transitions.last?.reason == .openDurationElapsed)
        // The single probe slot is taken: others are rejected without a retry-after.
        let second = d.reject()
        #expect(second?.0 == .halfOpen)
        #expect(second?.1 == nil)
    }

    @Test("successThreshold consecutive probe successes close the breaker")
    func probesClose() {
        var d = Driver(CircuitBreakerPolicy(consecutiveFailures: 1))
        d.call(.failure)
        d.advance(.seconds(60))
        d.call(.success)
        #expect(d.machine.state == .halfOpen)
        d.call(.success)
        #expect(d.machine.state == .closed)
        #expect(d.transitions.map(\.to) == [.open, .halfOpen, .closed])
        #expect(d.transitions.last?.reason == .probesSucceeded(2))
        // Closed afresh: it takes a full run of failures to trip again.
        d.call(.failure)
        #expect(d.machine.state == .open)  // consecutiveFailures is 1 in this policy
    }

    @Test("any probe failure reopens at once, even after a probe success")
    func probeFailureReopens() {
        var d = Driver(CircuitBreakerPolicy(consecutiveFailures: 1, successThreshold: 3))
        d.call(.failure)
        d.advance(.seconds(60))
        d.call(.success)
        d.call(.success)
        d.call(.failure)
        #expect(d.machine.state == .open)
        #expect(d.transitions.last?.reason == .probeFailed)
        #expect(d.reject()?.1 == .seconds(60))
    }

    @Test("neutral outcomes are not counted and free a probe slot")
    func neutral() {
        var d = Driver(CircuitBreakerPolicy(consecutiveFailures: 2))
        d.call(.failure)
        for _ in 0..<10 { d.call(.neutral) }
        #expect(d.machine.state == .closed)
        d.call(.failure)  // the neutral calls did not reset the run of failures
        #expect(d.machine.state == .open)
        d.advance(.seconds(60))
        d.call(.success)
        d.call(.neutral)  // frees the slot, does not break the run of successes
        #expect(d.machine.state == .halfOpen)
        d.call(.success)
        #expect(d.machine.state == .closed)
        let totals = d.machine.snapshot(key: BreakerKey(name: "t"), at: d.now).totals
        #expect(totals.neutral == 11)
    }

    @Test("a late result from an older generation is ignored")
    func lateResultsIgnored() {
        var d = Driver(CircuitBreakerPolicy(consecutiveFailures: 1))
        let stale = d.admit()
        let staleToo = d.admit()
        d.call(.failure)  // trips: generation 2
        #expect(d.machine.state == .open)
        d.advance(.seconds(60))
        let probe = d.admit()  // HALF_OPEN: generation 3
        d.record(.failure, stale)  // would reopen if it counted
        #expect(d.machine.state == .halfOpen)
        d.record(.success, probe)
        d.record(.success, staleToo)  // would close if it counted
        #expect(d.machine.state == .halfOpen)
        d.call(.success)
        #expect(d.machine.state == .closed)
        #expect(d.machine.snapshot(key: BreakerKey(name: "t"), at: d.now).totals.ignored == 2)
    }

    @Test("a probe from the previous HALF_OPEN round cannot close the next one")
    func probeFromOldRoundIgnored() {
        var d = Driver(CircuitBreakerPolicy(consecutiveFailures: 1, halfOpenProbes: 2, successThreshold: 1))
        d.call(.failure)
        d.advance(.seconds(60))
        let first = d.admit()
        let second = d.admit()
        d.record(.failure, first)  // reopens
        d.advance(.seconds(60))
        let third = d.admit()  // new HALF_OPEN round
        d.record(.success, second)
        #expect(d.machine.state == .halfOpen)
        d.record(.success, third)
        #expect(d.machine.state == .closed)
    }

    @Test("a probe that never reports is reclaimed after its lease")
    func leaseReclaim() {
        var d = Driver(CircuitBreakerPolicy(consecutiveFailures: 1, probeLease: .seconds(10)))
        d.call(.failure)
        d.advance(.seconds(60))
        let lost = d.admit()
        d.advance(.seconds(9))
        d.reject()
        d.advance(.seconds(1))
        let replacement = d.admit()
        #expect(replacement?.isProbe == true)
        // The lost probe's result no longer counts: its slot is gone.
        d.record(.failure, lost)
        #expect(d.machine.state == .halfOpen)
        d.record(.success, replacement)
        d.call(.success)
        #expect(d.machine.state == .closed)
        let totals = d.machine.snapshot(key: BreakerKey(name: "t"), at: d.now).totals
        #expect(totals.reclaimedProbes == 1)
        #expect(totals.ignored == 1)
    }

    @Test("rejection(at:) gives what acquire would reject with, and never admits nor moves the breaker")
    func rejectionLooksWithoutAdmitting() {
        var d = Driver(CircuitBreakerPolicy(consecutiveFailures: 1))
        #expect(d.machine.rejection(at: d.now) == nil)  // CLOSED
        d.call(.failure)
        d.advance(.seconds(20))
        guard case .rejected(let state, let retryAfter)? = d.machine.rejection(at: d.now) else {
            Issue.record("expected a rejection while OPEN")
            return
        }
        #expect(state == .open)
        #expect(retryAfter == .seconds(40))
        #expect(d.machine.snapshot(key: BreakerKey(name: "t"), at: d.now).totals.rejected == 1)
        // The open duration is over: acquire would move to HALF_OPEN; rejection(at:) leaves that to it.
        d.advance(.seconds(40))
        #expect(d.machine.rejection(at: d.now) == nil)
        #expect(d.machine.state == .open)
        _ = d.admit()
        // HALF_OPEN with its one probe slot taken rejects; a free slot does not.
        guard case .rejected(.halfOpen, nil)? = d.machine.rejection(at: d.now) else {
            Issue.record("expected a half-open rejection")
            return
        }
        d.machine.forceOpen()
        guard case .rejected(.forcedOpen, nil)? = d.machine.rejection(at: d.now) else {
            Issue.record("expected a forced-open rejection")
            return
        }
        d.machine.disable()
        #expect(d.machine.rejection(at: d.now) == nil)
    }

    @Test("halfOpenProbes bounds concurrent probes")
    func probeBound() {
        var d = Driver(CircuitBreakerPolicy(consecutiveFailures: 1, halfOpenProbes: 3, successThreshold: 5))
        d.call(.failure)
        d.advance(.seconds(60))
        let permits = (0..<3).map { _ in d.admit() }
        d.reject()
        d.record(.success, permits[0])
        let fourth = d.admit()
        d.reject()
        #expect(fourth != nil)
        #expect(d.machine.snapshot(key: BreakerKey(name: "t"), at: d.now).probesInFlight == 3)
    }

    @Test("failure rate over a count window trips once minimumCalls are seen")
    func failureRateCount() {
        var d = Driver(CircuitBreakerPolicy(
            consecutiveFailures: nil, failureRateThreshold: 0.5, slidingWindow: .count(10), minimumCalls: 6
        ))
        // F S F S F: 60% failures but only 5 calls.
        for outcome in [CallOutcome.failure, .success, .failure, .success, .failure] { d.call(outcome) }
        #expect(d.machine.state == .closed)
        d.call(.success)  // 3 of 6 = 50%
        #expect(d.machine.state == .open)
        guard case .failureRate(let rate)? = d.transitions.last?.reason else {
            Issue.record("expected a failure-rate trip")
            return
        }
        #expect(rate == 0.5)
    }

    @Test("a count window forgets the oldest calls")
    func countWindowSlides() {
        var d = Driver(CircuitBreakerPolicy(
            consecutiveFailures: nil, failureRateThreshold: 0.5, slidingWindow: .count(4), minimumCalls: 4
        ))
        d.call(.failure)
        for _ in 0..<10 { d.call(.success) }
        d.call(.failure)  // window S S S F: 25%
        #expect(d.machine.state == .closed)
        let s = d.machine.snapshot(key: BreakerKey(name: "t"), at: d.now)
        #expect(s.windowCalls == 4)
        #expect(s.windowFailures == 1)
        d.call(.failure)  // S S F F: 50%
        #expect(d.machine.state == .open)
    }

    @Test("a time window lets old calls age out")
    func failureRateTime() {
        var d = Driver(CircuitBreakerPolicy(
            consecutiveFailures: nil, failureRateThreshold: 0.5, slidingWindow: .time(.seconds(10)), minimumCalls: 4
        ))
        for _ in 0..<3 { d.call(.failure) }
        d.advance(.seconds(11))  // those three fall out of the window
        let aged = d.machine.snapshot(key: BreakerKey(name: "t"), at: d.now)
        #expect(aged.windowCalls == 0)
        for _ in 0..<3 { d.call(.success) }
        d.call(.failure)  // 1 of 4
        #expect(d.machine.state == .closed)
        d.advance(.seconds(2))
        d.call(.failure)  // 2 of 5
        d.call(.failure)  // 3 of 6
        #expect(d.machine.state == .open)
    }

    @Test("slow calls trip the slow-call rule even when they succeed")
    func slowCalls() {
        var d = Driver(CircuitBreakerPolicy(
            consecutiveFailures: 5, slidingWindow: .count(10), minimumCalls: 4,
            slowCallDurationThreshold: .seconds(1), slowCallRateThreshold: 0.75
        ))
        d.call(.success, taking: .seconds(2))
        d.call(.success, taking: .milliseconds(1000))  // not over the threshold
        d.call(.success, taking: .seconds(2))
        #expect(d.machine.state == .closed)
        d.call(.success, taking: .seconds(3))  // 3 of 4 slow
        #expect(d.machine.state == .open)
        guard case .slowCallRate(let rate)? = d.transitions.last?.reason else {
            Issue.record("expected a slow-call trip")
            return
        }
        #expect(rate == 0.75)
    }

    @Test("forceOpen rejects until reset; disable admits and counts nothing; reset closes")
    func operatorStates() {
        var d = Driver(CircuitBreakerPolicy(consecutiveFailures: 1))
        let inFlight = d.admit()
        #expect(d.machine.forceOpen()?.to == .forcedOpen)
        #expect(d.machine.forceOpen() == nil)
        d.advance(.seconds(3600))
        let r = d.reject()
        #expect(r?.0 == .forcedOpen)
        #expect(r?.1 == nil)
        d.record(.failure, inFlight)  // older generation
        #expect(d.machine.disable()?.to == .disabled)
        for _ in 0..<100 { d.call(.failure) }
        #expect(d.machine.state == .disabled)
        let t = d.machine.reset()
        #expect(t?.from == .disabled)
        #expect(t?.to == .closed)
        #expect(t?.reason == .reset)
        d.call(.failure)
        #expect(d.machine.state == .open)
        #expect(d.machine.reset()?.to == .closed)
        #expect(d.machine.reset() == nil)  // already closed
        #expect(d.machine.state == .closed)
    }

    @Test("every transition bumps the generation")
    func generations() {
        var d = Driver(CircuitBreakerPolicy(consecutiveFailures: 1, successThreshold: 1))
        d.call(.failure)
        d.advance(.seconds(60))
        d.call(.success)
        d.machine.forceOpen()
        d.machine.reset()
        #expect(d.machine.generation == 6)
        #expect(d.transitions.map(\.generation) == [2, 3, 4])
    }

    @Test("the open duration grows per consecutive trip up to its cap, and resets on close")
    func openDurationGrowth() {
        let policy = CircuitBreakerPolicy(
            consecutiveFailures: 1, openDuration: .seconds(10), openDurationMultiplier: 2,
            maxOpenDuration: .seconds(50), successThreshold: 1
        )
        var d = Driver(policy)
        d.call(.failure)
        var waits: [Duration] = []
        for _ in 0..<5 {
            waits.append(d.reject()?.1 ?? .zero)
            d.advance(waits.last!)
            d.call(.failure)  // the probe fails: trip again
        }
        #expect(waits == [.seconds(10), .seconds(20), .seconds(40), .seconds(50), .seconds(50)])
        d.advance(.seconds(50))
        d.call(.success)
        #expect(d.machine.state == .closed)
        d.call(.failure)
        #expect(d.reject()?.1 == .seconds(10))
        #expect(d.machine.baseOpenDuration(forTrip: 1000) == .seconds(50))
    }

    @Test("without a cap, growth stops at a day instead of overflowing")
    func uncappedGrowth() {
        let machine = Machine(policy: CircuitBreakerPolicy(openDuration: .seconds(1), openDurationMultiplier: 10))
        #expect(machine.baseOpenDuration(forTrip: 3) == .seconds(100))
        #expect(machine.baseOpenDuration(forTrip: 10_000) == .seconds(86_400))
    }

    /// `halfOpenProbes` is any positive Int (a service config may say 10^14); the machine reserved that
    /// many probe slots up front, an allocation that cannot succeed.
    @Test("a huge halfOpenProbes is not reserved up front (exit test)")
    func hugeHalfOpenProbes() async {
        await #expect(processExitsWith: .success) {
            var machine = CircuitBreakerStateMachine<ContinuousClock.Instant>(
                policy: CircuitBreakerPolicy(consecutiveFailures: 1, halfOpenProbes: 100_000_000_000_000))
            guard case .admitted = machine.acquire(at: .now).decision else { preconditionFailure("not admitted") }
        }
    }

    /// Found by the service-config fuzz target: `openDurationMultiplier: 1e22` passes validation, and the
    /// second trip then multiplied 30 s past what a Duration holds, which traps. An exit test, so a trap
    /// fails one test.
    @Test("a huge multiplier reaches the cap instead of trapping (exit test)")
    func hugeMultiplier() async {
        await #expect(processExitsWith: .success) {
            let uncapped = CircuitBreakerStateMachine<ContinuousClock.Instant>(
                policy: CircuitBreakerPolicy(openDuration: .seconds(30), openDurationMultiplier: 1.0777e22))
            precondition(uncapped.baseOpenDuration(forTrip: 2) == .seconds(86_400))
            let capped = CircuitBreakerStateMachine<ContinuousClock.Instant>(
                policy: CircuitBreakerPolicy(
                    openDuration: .seconds(30), openDurationMultiplier: 1e300, maxOpenDuration: .seconds(999_999_999_999)))
            precondition(capped.baseOpenDuration(forTrip: 6) == .seconds(999_999_999_999))
        }
    }

    @Test("jitter shortens the open duration by at most its fraction", arguments: [0.0, 0.25, 0.5, 0.99, 1.0])
    func jitterBounds(random: Double) {
        let policy = CircuitBreakerPolicy(consecutiveFailures: 1, openDuration: .seconds(100), jitter: 0.2)
        var d = Driver(policy, random: { random })
        d.call(.failure)
        let wait = d.reject()?.1 ?? .zero
        #expect(wait <= .seconds(100))
        #expect(wait >= .seconds(80))
        #expect(wait == .seconds(100) * (1 - 0.2 * random))
    }

    @Test("invalid policies name the field")
    func validation() {
        func error(_ p: CircuitBreakerPolicy) -> String? {
            do { try p.validate() } catch { return error.description }
            return nil
        }
        #expect(error(CircuitBreakerPolicy(consecutiveFailures: 0))?.hasPrefix("consecutiveFailures: 0") == true)
        #expect(error(CircuitBreakerPolicy(failureRateThreshold: 1.5))?.hasPrefix("failureRateThreshold") == true)
        #expect(error(CircuitBreakerPolicy(jitter: 1))?.hasPrefix("jitter: 1.0") == true)
        #expect(error(CircuitBreakerPolicy(halfOpenProbes: 0))?.hasPrefix("halfOpenProbes") == true)
        #expect(error(CircuitBreakerPolicy(slowCallRateThreshold: 0.5))?.hasPrefix("slowCallDurationThreshold") == true)
        #expect(error(CircuitBreakerPolicy(consecutiveFailures: nil))?.hasPrefix("consecutiveFailures") == true)
        #expect(error(CircuitBreakerPolicy(openDuration: .seconds(10), maxOpenDuration: .seconds(5)))?
            .hasPrefix("maxOpenDuration") == true)
    }
}
