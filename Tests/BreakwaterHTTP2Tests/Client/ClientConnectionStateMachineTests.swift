import BreakwaterCore
import BreakwaterTestSupport
import Testing
@testable import BreakwaterHTTP2

/// The client's connectivity rules as a value: no socket, no timer, the clock and randomness passed in.
@Suite struct ClientConnectionStateMachineTests {
    final class Token {}
    // The tokens live as long as the test: an identifier of a freed object may be reused.
    let tokenA = Token()
    let tokenB = Token()
    var a: ObjectIdentifier { ObjectIdentifier(tokenA) }
    var b: ObjectIdentifier { ObjectIdentifier(tokenB) }
    let t0 = ContinuousClock.now
    static let policy = HTTP2ClientTransport.Configuration.Backoff(
        initial: .seconds(1), multiplier: 1.6, maximum: .seconds(120), jitter: 0.2)

    func machine() -> ClientConnectionStateMachine {
        ClientConnectionStateMachine(backoff: Self.policy, target: "127.0.0.1:1")
    }

    @Test func theFirstStreamConnectsTheOthersWaitThenAllStart() {
        var m = machine()
        let r1 = m.openStream()
        #expect(r1 == .waitAndConnect(attempt: 1))
        let r2 = m.openStream()
        #expect(r2 == .wait)
        let r3 = m.attemptSucceeded(1, connection: a)
        #expect(r3 == .startWaiting(on: a))
        let r4 = m.openStream()
        #expect(r4 == .start(on: a))
    }

    @Test func inTransientFailureAWaitForReadyStreamWaitsAndAProbeConnectsNow() {
        var m = machine()
        var random = SeededRandom(seed: 7)
        _ = m.openStream()
        let error = RPCError(code: .unavailable, message: "connection refused: 127.0.0.1:1")
        _ = m.attemptFailed(1, error: error, now: t0, random: &random)
        let ordinary = m.openStream()
        #expect(ordinary == .fail(error.status))
        let patient = m.openStream(waitForReady: true)
        #expect(patient == .wait)
        #expect(m.connectivity.state == .transientFailure, "waiting starts no attempt")
        let probe = m.openStream(probe: true)
        #expect(probe == .waitAndConnect(attempt: 2))
        #expect(m.connectivity.state == .connecting)
        let ended = m.backoffEnded()
        #expect(ended == nil, "the backoff's end finds an attempt under way")
    }

    @Test func anAbandonedAttemptGoesBackToIdleWithoutABackoff() {
        var m = machine()
        _ = m.openStream()
        let notCurrent = m.attemptAbandoned(2)
        #expect(!notCurrent, "not the current attempt")
        let abandoned = m.attemptAbandoned(1)
        #expect(abandoned)
        #expect(m.connectivity.state == .idle)
        let next = m.openStream()
        #expect(next == .waitAndConnect(attempt: 2))
        // A late success of the abandoned attempt is ignored.
        let late = m.attemptSucceeded(1, connection: a)
        #expect(late == .none)
    }

    @Test func aFailedAttemptFailsFastUntilItsBackoffHasPassed() {
        var m = machine()
        var random = SeededRandom(seed: 7)
        _ = m.openStream()
        let error = RPCError(code: .unavailable, message: "connection refused: 127.0.0.1:1")
        guard case .failWaiting(let status, let retryAt) = m.attemptFailed(1, error: error, now: t0, random: &random) else {
            Issue.record("expected the waiting streams to fail")
            return
        }
        #expect(status.code == .unavailable)
        // 1 s plus or minus 20%.
        #expect(retryAt >= t0 + .milliseconds(800) && retryAt <= t0 + .milliseconds(1200))
        let r5 = m.openStream()
        #expect(r5 == .fail(error.status))
        #expect(m.connectivity.state == .transientFailure)
        #expect(m.connectivity.error?.message == error.message)
        // The manager's timer ends the backoff: it connects by itself, and streams wait for that attempt.
        #expect(m.backoffEnded() == 2)
        #expect(m.connectivity.state == .connecting)
        let r6 = m.openStream()
        #expect(r6 == .wait)
    }

    @Test func backoffGrowsPerFailureUpToTheMaximumAndResetsWhenReady() {
        var m = machine()
        var random = SeededRandom(seed: 1)
        var now = t0
        var delays: [Duration] = []
        _ = m.openStream()
        for attempt in 1...14 {
            if attempt > 1 { #expect(m.backoffEnded() == attempt) }
            guard case .failWaiting(_, let retryAt) = m.attemptFailed(
                attempt, error: RPCError(code: .unavailable, message: "x"), now: now, random: &random)
            else { return }
            delays.append(now.duration(to: retryAt))
            now = retryAt
        }
        // Without jitter 1, 1.6, 2.56, ... s: each within 20% of that, never over 120 s x 1.2.
        var expected = 1.0
        for delay in delays {
            let seconds = Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18
            #expect(seconds >= expected * 0.8 - 1e-9 && seconds <= expected * 1.2 + 1e-9, "\(seconds) for \(expected)")
            expected = min(expected * 1.6, 120)
        }
        let r8 = m.backoffEnded()
        #expect(r8 == 15)
        let r9 = m.attemptSucceeded(15, connection: a)
        #expect(r9 == .startWaiting(on: a))
        m.connectionLost(a)
        let r10 = m.openStream()
        #expect(r10 == .waitAndConnect(attempt: 16))
        guard case .failWaiting(_, let retryAt) = m.attemptFailed(
            16, error: RPCError(code: .unavailable, message: "x"), now: now, random: &random)
        else { return }
        #expect(now.duration(to: retryAt) <= .milliseconds(1200), "back to the initial backoff")
    }

    @Test func eventsOfAnOldAttemptAreIgnored() {
        var m = machine()
        var random = SeededRandom(seed: 3)
        _ = m.openStream()
        _ = m.attemptFailed(1, error: RPCError(code: .unavailable, message: "timed out"), now: t0, random: &random)
        // The first attempt's connection shows up late.
        let r11 = m.attemptSucceeded(1, connection: a)
        #expect(r11 == .none)
        let r12 = m.attemptFailed(1, error: RPCError(code: .unavailable, message: "again"), now: t0, random: &random)
        #expect(r12 == .none)
    }

    @Test func goAwayOrCloseMakesTheNextStreamConnectAnew() {
        var m = machine()
        _ = m.openStream()
        _ = m.attemptSucceeded(1, connection: a)
        m.connectionLost(b)  // another connection: no change
        let r13 = m.openStream()
        #expect(r13 == .start(on: a))
        m.connectionLost(a)
        #expect(m.state == .idle)
        let r14 = m.openStream()
        #expect(r14 == .waitAndConnect(attempt: 2))
    }

    @Test func afterShutdownEveryStreamFailsAndALateConnectionIsClosed() {
        var m = machine()
        _ = m.openStream()
        let first = m.shutDown()
        #expect(!first)
        let r15 = m.shutDown()
        #expect(r15, "a second shutdown says it already happened")
        guard case .fail(let status) = m.openStream() else {
            Issue.record("expected a failure")
            return
        }
        #expect(status.code == .unavailable)
        let r16 = m.attemptSucceeded(1, connection: a)
        #expect(r16 == .closeConnection)
    }

    @Test func aHugeMultiplierSaturatesAtTheMaximum() {
        var backoff = ConnectionBackoff(.init(initial: .seconds(1), multiplier: 1e300, maximum: .seconds(120), jitter: 0))
        var random = SeededRandom(seed: 2)
        let delays = (0..<3).map { _ in backoff.next(using: &random) }
        #expect(delays == [.seconds(1), .seconds(120), .seconds(120)])
    }

    @Test func backoffWithoutJitterIsExact() {
        var backoff = ConnectionBackoff(.init(initial: .milliseconds(100), multiplier: 2, maximum: .milliseconds(350), jitter: 0))
        var random = SeededRandom(seed: 9)
        let delays = (0..<4).map { _ in backoff.next(using: &random) }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(350), .milliseconds(350)])
        backoff.reset()
        #expect(backoff.next(using: &random) == .milliseconds(100))
    }

    @Test func noBackoffEndsAfterShutdown() {
        var m = machine()
        var random = SeededRandom(seed: 5)
        _ = m.openStream()
        _ = m.attemptFailed(1, error: RPCError(code: .unavailable, message: "refused"), now: t0, random: &random)
        _ = m.shutDown()
        #expect(m.backoffEnded() == nil)
        #expect(m.connectivity.state == .shutdown)
    }
}
