import Testing
@testable import BreakwaterHTTP2

/// Keepalive's rules as a value: no socket, no timer; the instants and the session's read count are
/// passed in.
@Suite struct KeepaliveMachineTests {
    let t0 = ContinuousClock.now
    static let policy = KeepaliveMachine.Policy(time: .seconds(1), timeout: .seconds(2), permitWithoutCalls: false)

    func ms(_ n: Int) -> ContinuousClock.Instant { t0 + .milliseconds(n) }

    @Test func withoutAPolicyNothingIsEverArmed() {
        var m = KeepaliveMachine(policy: nil)
        #expect(m.start(now: t0, reads: 0, hasStreams: true) == .none)
        #expect(m.streamsBecameActive(now: t0, reads: 0) == .none)
        #expect(m.timerFired(now: ms(5000), reads: 0, lastRead: t0, hasStreams: true) == .none)
        #expect(m.state == .dormant)
    }

    @Test func aQuietConnectionWithAStreamIsPingedAfterTimeThenClosedAfterTimeout() {
        var m = KeepaliveMachine(policy: Self.policy)
        #expect(m.start(now: t0, reads: 0, hasStreams: true) == .arm(at: ms(1000)))
        #expect(m.timerFired(now: ms(1000), reads: 3, lastRead: t0, hasStreams: true) == .ping(deadline: ms(3000)))
        // Nothing more read by the deadline: dead, and the reason names keepalive.
        let end = m.timerFired(now: ms(3000), reads: 3, lastRead: t0, hasStreams: true)
        guard case .close(let reason) = end else {
            Issue.record("expected a close, got \(end)")
            return
        }
        #expect(reason.contains("keepalive"))
        #expect(m.state == .closed)
        #expect(m.timerFired(now: ms(9000), reads: 3, lastRead: t0, hasStreams: true) == .none)
    }

    @Test func readsPostponeThePing() {
        var m = KeepaliveMachine(policy: Self.policy)
        _ = m.start(now: t0, reads: 0, hasStreams: true)
        // Read 400 ms in: the connection is quiet only since then, so the PING waits until 1.4 s.
        #expect(m.timerFired(now: ms(1000), reads: 1, lastRead: ms(400), hasStreams: true) == .arm(at: ms(1400)))
        #expect(m.timerFired(now: ms(1400), reads: 1, lastRead: ms(400), hasStreams: true) == .ping(deadline: ms(3400)))
    }

    @Test func theAcknowledgementRestartsTheQuietSpell() {
        var m = KeepaliveMachine(policy: Self.policy)
        _ = m.start(now: t0, reads: 0, hasStreams: true)
        _ = m.timerFired(now: ms(1000), reads: 0, lastRead: t0, hasStreams: true)
        #expect(m.pingAcknowledged(now: ms(1010), reads: 1) == .arm(at: ms(2010)))
        #expect(m.state == .waiting(since: ms(1010), reads: 1))
        // A second acknowledgement (late, duplicated) changes nothing.
        #expect(m.pingAcknowledged(now: ms(1020), reads: 1) == .none)
    }

    @Test func anythingReadAfterThePingProvesTheConnectionAlive() {
        var m = KeepaliveMachine(policy: Self.policy)
        _ = m.start(now: t0, reads: 0, hasStreams: true)
        _ = m.timerFired(now: ms(1000), reads: 5, lastRead: t0, hasStreams: true)
        // DATA arrived at 2.5 s but the acknowledgement did not yet: alive, quiet since 2.5 s.
        #expect(m.timerFired(now: ms(3000), reads: 6, lastRead: ms(2500), hasStreams: true) == .arm(at: ms(3500)))
        // Read long ago (then quiet for more than `time`): PING again at once.
        var n = KeepaliveMachine(policy: Self.policy)
        _ = n.start(now: t0, reads: 0, hasStreams: true)
        _ = n.timerFired(now: ms(1000), reads: 5, lastRead: t0, hasStreams: true)
        #expect(n.timerFired(now: ms(3000), reads: 6, lastRead: ms(1100), hasStreams: true) == .ping(deadline: ms(5000)))
    }

    @Test func withoutCallsItSleepsUntilTheNextStreamUnlessPermitted() {
        var m = KeepaliveMachine(policy: Self.policy)
        #expect(m.start(now: t0, reads: 0, hasStreams: false) == .none)
        #expect(m.state == .dormant)
        #expect(m.streamsBecameActive(now: ms(500), reads: 0) == .arm(at: ms(1500)))
        // The stream ended before the PING was due: no PING, dormant again.
        #expect(m.timerFired(now: ms(1500), reads: 0, lastRead: t0, hasStreams: false) == .none)
        #expect(m.state == .dormant)
        // Waking while awake changes nothing.
        _ = m.streamsBecameActive(now: ms(2000), reads: 0)
        #expect(m.streamsBecameActive(now: ms(2100), reads: 0) == .none)

        var permitted = KeepaliveMachine(policy: .init(time: .seconds(1), timeout: .seconds(2), permitWithoutCalls: true))
        #expect(permitted.start(now: t0, reads: 0, hasStreams: false) == .arm(at: ms(1000)))
        #expect(permitted.timerFired(now: ms(1000), reads: 0, lastRead: t0, hasStreams: false) == .ping(deadline: ms(3000)))
    }

    @Test func anEarlyTimerIsReArmedForItsDeadline() {
        var m = KeepaliveMachine(policy: Self.policy)
        _ = m.start(now: t0, reads: 0, hasStreams: true)
        _ = m.timerFired(now: ms(1000), reads: 0, lastRead: t0, hasStreams: true)
        #expect(m.timerFired(now: ms(2000), reads: 0, lastRead: t0, hasStreams: true) == .arm(at: ms(3000)))
    }

    // MARK: The PING after a silent call

    @Test func aSilentCallPingsEvenWithoutKeepaliveAndNoAnswerClosesNamingTheCause() {
        var m = KeepaliveMachine(policy: nil)
        _ = m.start(now: t0, reads: 0, hasStreams: true)
        #expect(m.callEndedSilently(now: ms(500), reads: 4, bound: .seconds(1)) == .ping(deadline: ms(1500)))
        let end = m.timerFired(now: ms(1500), reads: 4, lastRead: t0, hasStreams: false)
        guard case .close(let reason) = end else {
            Issue.record("expected a close, got \(end)")
            return
        }
        #expect(reason.contains("silent"), "\(reason)")
    }

    @Test func anAnsweredSilentCallPingLeavesTheConnectionAsItWas() {
        var m = KeepaliveMachine(policy: nil)
        _ = m.callEndedSilently(now: ms(500), reads: 4, bound: .seconds(1))
        #expect(m.pingAcknowledged(now: ms(501), reads: 1) == .none)
        #expect(m.state == .dormant)
        // Anything read counts as an answer too.
        _ = m.callEndedSilently(now: ms(600), reads: 5, bound: .seconds(1))
        #expect(m.timerFired(now: ms(1600), reads: 6, lastRead: ms(601), hasStreams: false) == .none)
        #expect(m.state == .dormant)
        // With keepalive, its quiet spell begins again at the answer.
        var k = KeepaliveMachine(policy: Self.policy)
        _ = k.start(now: t0, reads: 0, hasStreams: true)
        _ = k.callEndedSilently(now: ms(500), reads: 0, bound: .seconds(1))
        #expect(k.pingAcknowledged(now: ms(510), reads: 1) == .arm(at: ms(1510)))
    }

    @Test func aPeerThatAnsweredAndStayedSilentIsNotPingedAgainForFiveMinutes() {
        var m = KeepaliveMachine(policy: nil)
        #expect(m.callEndedSilently(now: t0, reads: 4, bound: .seconds(1)) == .ping(deadline: ms(1000)))
        _ = m.pingAcknowledged(now: ms(10), reads: 5)
        // A server holding its calls: the next silent calls send no PING (gRPC would count strikes)...
        #expect(m.callEndedSilently(now: ms(2000), reads: 5, bound: .seconds(1)) == .none)
        #expect(m.callEndedSilently(now: ms(299_000), reads: 5, bound: .seconds(1)) == .none)
        // ... until five minutes after the answer,
        #expect(m.callEndedSilently(now: ms(300_010), reads: 5, bound: .seconds(1)) == .ping(deadline: ms(301_010)))
        // or as soon as the peer sent anything since (a server resets its strikes when it sends).
        var busy = KeepaliveMachine(policy: nil)
        _ = busy.callEndedSilently(now: t0, reads: 4, bound: .seconds(1))
        _ = busy.pingAcknowledged(now: ms(10), reads: 5)
        #expect(busy.callEndedSilently(now: ms(2000), reads: 9, bound: .seconds(1)) == .ping(deadline: ms(3000)))
    }

    @Test func aProbesPingWithoutAnswerClosesNamingTheProbe() {
        var m = KeepaliveMachine(policy: nil)
        #expect(m.probeWaits(now: t0, reads: 2, bound: .milliseconds(300)) == .ping(deadline: ms(300)))
        let end = m.timerFired(now: ms(300), reads: 2, lastRead: nil, hasStreams: false)
        guard case .close(let reason) = end else {
            Issue.record("expected a close, got \(end)")
            return
        }
        #expect(reason.contains("probe"), "\(reason)")
        // Answered instead: no close, and without keepalive nothing more is armed.
        var alive = KeepaliveMachine(policy: nil)
        _ = alive.probeWaits(now: t0, reads: 2, bound: .milliseconds(300))
        #expect(alive.pingAcknowledged(now: ms(10), reads: 3) == .none)
        #expect(alive.state == .dormant)
    }

    @Test func aPingAlreadyOutIsNotRepeatedButTakesTheShorterDeadline() {
        var m = KeepaliveMachine(policy: Self.policy)
        _ = m.start(now: t0, reads: 0, hasStreams: true)
        #expect(m.timerFired(now: ms(1000), reads: 0, lastRead: t0, hasStreams: true) == .ping(deadline: ms(3000)))
        // The keepalive PING has until 3 s; a silent call at 1.2 s gives it until 2.2 s, without a second PING.
        #expect(m.callEndedSilently(now: ms(1200), reads: 0, bound: .seconds(1)) == .arm(at: ms(2200)))
        #expect(m.callEndedSilently(now: ms(1300), reads: 0, bound: .seconds(1)) == .none)
        guard case .close(let reason) = m.timerFired(now: ms(2200), reads: 0, lastRead: t0, hasStreams: true) else {
            Issue.record("expected a close")
            return
        }
        #expect(reason.contains("silent"))
    }

    @Test func withoutReadTimesNewReadsStartAWholeNewInterval() {
        // The server's two-hour keepalive: no clock read per read, only the count.
        var m = KeepaliveMachine(policy: Self.policy)
        _ = m.start(now: t0, reads: 10, hasStreams: true)
        #expect(m.timerFired(now: ms(1000), reads: 11, lastRead: nil, hasStreams: true) == .arm(at: ms(2000)))
        #expect(m.timerFired(now: ms(2000), reads: 11, lastRead: nil, hasStreams: true) == .ping(deadline: ms(4000)))
        #expect(m.pingAcknowledged(now: ms(2001), reads: 12) == .arm(at: ms(3001)))
    }
}
