import BreakwaterCore
import BreakwaterTestSupport
import Testing
@testable import BreakwaterHTTP2

/// The policy alone, with instants made up: when a loop polls before it sleeps, and until when.
@Suite struct IdlePollPolicyTests {
    let now = ContinuousClock.now

    @Test func offNeverPolls() {
        #expect(IdlePoll.off.isOff)
        #expect(IdlePoll.off.pollUntil(now: now, timeoutMillis: -1) == nil)
        #expect(IdlePoll.off.pollUntil(now: now, timeoutMillis: 50) == nil)
    }

    @Test func pollsForTheBudgetBeforeAnyWaitThatWouldBlock() {
        let poll = IdlePoll(budget: .microseconds(50))
        #expect(poll.pollUntil(now: now, timeoutMillis: -1) == now + .microseconds(50))
        // A timer due in 3 ms: the loop still polls first (the timer is late by at most the budget).
        #expect(poll.pollUntil(now: now, timeoutMillis: 3) == now + .microseconds(50))
    }

    @Test func aLoopThatDoesNotWaitDoesNotPoll() {
        // Work is queued or a timer is due: the loop polls once anyway, and goes on with its next turn.
        #expect(IdlePoll(budget: .microseconds(200)).pollUntil(now: now, timeoutMillis: 0) == nil)
    }

    @Test func budgetIsClampedToZeroThroughOneMillisecond() async {
        #expect(IdlePoll(budget: .seconds(3)).budget == .milliseconds(1))
        #expect(IdlePoll(budget: .microseconds(-5)).budget == .zero)
        #expect(IdlePoll(budget: .microseconds(-5)).isOff)
        let loop = EventLoop(name: "bw-idle-clamp", idlePoll: .seconds(1))
        #expect(loop.idlePoll == .milliseconds(1))
        await loop.stop()
    }
}

/// Loops that poll before they sleep, on their own threads: they poll, they still sleep in the end, and
/// the transport works over them.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct IdlePollLoopTests {
    @Test func aLoopWithoutBudgetNeverPolls() async {
        let loop = EventLoop(name: "bw-idle-off")
        for _ in 0..<5 {
            await EventLoopWakeUpTests.onLoop(loop) {}
            await EventLoopSubmitTests.waitUntilAsleep(loop)
        }
        #expect(loop.idlePoll == .zero)
        #expect(loop.idlePollStatistics.polls == 0)
        #expect(loop.idlePollStatistics.sleptAfterPolling == 0)
        await loop.stop()
    }

    /// After each turn the loop polls, then sleeps once polling found nothing: it must not keep spinning.
    @Test func pollsAfterEachTurnThenSleeps() async {
        let loop = EventLoop(name: "bw-idle-on", idlePoll: .microseconds(200))
        for _ in 0..<5 {
            let before = loop.idlePollStatistics
            await EventLoopWakeUpTests.onLoop(loop) {}
            // Bounded by `eventually`'s limit, seconds beyond the 200 us budget: a loop that kept
            // polling never gets here.
            #expect(await eventually { loop.idlePollStatistics.sleptAfterPolling > before.sleptAfterPolling })
            #expect(loop.idlePollStatistics.polls > before.polls)
        }
        await loop.stop()
    }

    /// A timer armed while the loop polls and sleeps still fires.
    @Test func timersFireOnALoopThatPolls() async {
        let loop = EventLoop(name: "bw-idle-timer", idlePoll: .milliseconds(1))
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            loop.execute {
                _ = loop.scheduleTimer(at: .now + .milliseconds(20)) { done.resume() }
            }
        }
        #expect(loop.idlePollStatistics.polls > 0)
        await loop.stop()
    }

    /// Our client and server, each on a group whose loops poll: unary and streaming calls as usual.
    @Test func callsOverLoopsThatPoll() async throws {
        let serverGroup = EventLoopGroup(numberOfLoops: 1, namePrefix: "bw-idle-s", idlePoll: .microseconds(100))
        let clientGroup = EventLoopGroup(numberOfLoops: 1, namePrefix: "bw-idle-c", idlePoll: .microseconds(100))
        let server = try await TestServer.start(group: serverGroup)
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port, group: clientGroup)
        for i in 0..<50 {
            let result = await TestCalls.call(client, "Echo", [[UInt8(i)], [UInt8(i), 1]])
            #expect(result.status.code == .ok, "\(result.status)")
            #expect(result.messages == [[UInt8(i)], [UInt8(i), 1]])
        }
        let expanded = await TestCalls.call(client, "Expand", [TestCalls.expandRequest(count: 500, size: 64)])
        #expect(expanded.status.code == .ok, "\(expanded.status)")
        #expect(expanded.messages.count == 500)
        #expect(clientGroup.loops[0].idlePollStatistics.polls > 0)
        #expect(serverGroup.loops[0].idlePollStatistics.polls > 0)
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
        await clientGroup.shutdownGracefully()
        await serverGroup.shutdownGracefully()
    }
}
