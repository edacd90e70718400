import Testing
@testable import BreakwaterHTTP2

/// The server's keepalive enforcement as a value (grpc-go's rules), time passed in.
@Suite struct PingStrikesTests {
    let t0 = ContinuousClock.now
    func s(_ n: Int) -> ContinuousClock.Instant { t0 + .seconds(n) }
    func defaults() -> PingStrikes { PingStrikes(minimumInterval: .seconds(300), permitWithoutCalls: false, maxStrikes: 2) }

    @Test func theThirdPingTooSoonEndsTheConnection() {
        var p = defaults()
        #expect(p.pingReceived(now: s(0), hasStreams: true) == .accepted)  // the first is never a strike
        #expect(p.pingReceived(now: s(10), hasStreams: true) == .strike)
        #expect(p.pingReceived(now: s(20), hasStreams: true) == .strike)
        #expect(p.pingReceived(now: s(30), hasStreams: true) == .tooMany)
    }

    @Test func pingsAtTheMinimumIntervalAreFine() {
        var p = defaults()
        for minute in stride(from: 0, to: 60, by: 5) {
            #expect(p.pingReceived(now: s(minute * 60), hasStreams: true) == .accepted)
        }
        #expect(p.strikes == 0)
    }

    @Test func dataOrHeadersSentSinceThePreviousPingWipeTheStrikes() {
        var p = defaults()
        _ = p.pingReceived(now: s(0), hasStreams: true)
        _ = p.pingReceived(now: s(1), hasStreams: true)
        _ = p.pingReceived(now: s(2), hasStreams: true)
        #expect(p.strikes == 2)
        p.sentDataOrHeaders()
        #expect(p.pingReceived(now: s(3), hasStreams: true) == .accepted)
        #expect(p.strikes == 0)
        // Only once: the next PING too soon is a strike again.
        #expect(p.pingReceived(now: s(4), hasStreams: true) == .strike)
    }

    @Test func withoutCallsOnePingPerTwoHoursUnlessPermitted() {
        var p = defaults()
        #expect(p.pingReceived(now: s(0), hasStreams: false) == .accepted)
        // Ten minutes is past the minimum interval, but there is no call.
        #expect(p.pingReceived(now: s(600), hasStreams: false) == .strike)
        #expect(p.pingReceived(now: s(600 + 7201), hasStreams: false) == .accepted)

        var permitted = PingStrikes(minimumInterval: .seconds(300), permitWithoutCalls: true, maxStrikes: 2)
        _ = permitted.pingReceived(now: s(0), hasStreams: false)
        #expect(permitted.pingReceived(now: s(600), hasStreams: false) == .accepted)
    }

    @Test func noStrikesToleratedWithZero() {
        var p = PingStrikes(minimumInterval: .seconds(300), permitWithoutCalls: false, maxStrikes: 0)
        _ = p.pingReceived(now: s(0), hasStreams: true)
        #expect(p.pingReceived(now: s(1), hasStreams: true) == .tooMany)
    }

    @Test func aClientToldTooManyPingsDoublesItsKeepaliveTime() {
        let keepalive = HTTP2ClientTransport.Configuration.Keepalive(time: .seconds(10), timeout: .seconds(1))
        #expect(keepalive.afterTooManyPings.time == .seconds(20))
        #expect(keepalive.afterTooManyPings.afterTooManyPings.time == .seconds(40))
        #expect(keepalive.afterTooManyPings.timeout == .seconds(1))
    }
}
