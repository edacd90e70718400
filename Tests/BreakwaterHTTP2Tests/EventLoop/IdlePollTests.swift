import BreakwaterCore
import BreakwaterTestSupport
import Testing
@testable import BreakwaterHTTP2

#if canImport(Glibc)
import Glibc
#endif

/// The policy alone, with instants and waits made up: when a loop polls before it sleeps, and for how long.
@Suite struct IdlePollPolicyTests {
    let now = ContinuousClock.now

    @Test func offNeverPolls() {
        var poll = IdlePoll(budget: .zero)
        #expect(poll.isOff)
        poll.record(waited: .microseconds(5), foundByPolling: false)
        #expect(poll.pollUntil(now: now, timeoutMillis: -1) == nil)
        #expect(poll.pollUntil(now: now, timeoutMillis: 50) == nil)
    }

    @Test func theWindowStartsClosed() {
        #expect(IdlePoll(budget: .microseconds(50)).pollUntil(now: now, timeoutMillis: -1) == nil)
    }

    /// Events within the budget of the turn before: the window opens and doubles up to the budget.
    @Test func growsWhileEventsComeWithinTheBudget() {
        var poll = IdlePoll(budget: .microseconds(50))
        var windows: [Duration] = []
        for _ in 0..<5 {
            poll.record(waited: .microseconds(45), foundByPolling: false)
            windows.append(poll.window)
        }
        #expect(windows == [.microseconds(10), .microseconds(20), .microseconds(40), .microseconds(50), .microseconds(50)])
        #expect(poll.pollUntil(now: now, timeoutMillis: -1) == now + .microseconds(50))
        // A timer due in 3 ms: the loop still polls first (the timer is late by at most the window).
        #expect(poll.pollUntil(now: now, timeoutMillis: 3) == now + .microseconds(50))
    }

    @Test func staysWhilePollingFindsTheEvents() {
        var poll = IdlePoll(budget: .microseconds(200))
        poll.record(waited: .microseconds(30), foundByPolling: false)
        poll.record(waited: .microseconds(30), foundByPolling: false)
        #expect(poll.window == .microseconds(20))
        for _ in 0..<10 { poll.record(waited: .microseconds(15), foundByPolling: true) }
        #expect(poll.window == .microseconds(20))
    }

    /// Events farther apart than the budget: the window halves after each, and closes below the start.
    @Test func shrinksToNoneWhileEventsComeFartherApart() {
        var poll = IdlePoll(budget: .microseconds(80))
        for _ in 0..<4 { poll.record(waited: .microseconds(60), foundByPolling: false) }
        #expect(poll.window == .microseconds(80))
        var windows: [Duration] = []
        for _ in 0..<4 {
            poll.record(waited: .milliseconds(10), foundByPolling: false)
            windows.append(poll.window)
        }
        #expect(windows == [.microseconds(40), .microseconds(20), .microseconds(10), .zero])
        #expect(poll.pollUntil(now: now, timeoutMillis: -1) == nil)
        // Closed, long waits keep it closed; one short one opens it again.
        poll.record(waited: .seconds(1), foundByPolling: false)
        #expect(poll.window == .zero)
        poll.record(waited: .microseconds(5), foundByPolling: false)
        #expect(poll.window == IdlePoll.growStart)
    }

    @Test func aLoopThatDoesNotWaitDoesNotPoll() {
        // Work is queued or a timer is due: the loop polls once anyway, and goes on with its next turn.
        var poll = IdlePoll(budget: .microseconds(200))
        poll.record(waited: .microseconds(5), foundByPolling: false)
        #expect(poll.pollUntil(now: now, timeoutMillis: 0) == nil)
    }

    @Test func budgetIsClampedToZeroThroughOneMillisecond() async {
        #expect(IdlePoll(budget: .seconds(3)).budget == .milliseconds(1))
        #expect(IdlePoll(budget: .microseconds(-5)).budget == .zero)
        #expect(IdlePoll(budget: .microseconds(-5)).isOff)
        // A budget under the first window: the window opens to the budget.
        var small = IdlePoll(budget: .microseconds(4))
        small.record(waited: .microseconds(3), foundByPolling: false)
        #expect(small.window == .microseconds(4))
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

    /// Hands `loop` an empty closure every ~100 us from another thread until it has polled (its window
    /// opened: the closures came within its 1 ms budget), and returns whether it did.
    static func openWindow(_ loop: EventLoop) async -> Bool {
        await eventually {
            for _ in 0..<20 {
                loop.execute {}
                usleep(100)
            }
            return loop.idlePollStatistics.polls > 0
        }
    }

    /// Events close together open the window; once they stop, the loop polls, finds nothing and sleeps:
    /// it must not keep spinning.
    @Test func pollsWhileEventsComeCloseThenSleeps() async {
        let loop = EventLoop(name: "bw-idle-on", idlePoll: .milliseconds(1))
        #expect(loop.idlePollStatistics.sleptAfterPolling == 0)
        #expect(await Self.openWindow(loop))
        // Bounded by `eventually`'s limit, seconds beyond the 1 ms budget: a loop that kept polling
        // never gets here (the window was open, so the polls after the last closure find nothing).
        #expect(await eventually { loop.idlePollStatistics.sleptAfterPolling > 0 })
        await loop.stop()
    }

    /// A timer armed while the loop's window is open still fires.
    @Test func timersFireOnALoopThatPolls() async {
        let loop = EventLoop(name: "bw-idle-timer", idlePoll: .milliseconds(1))
        #expect(await Self.openWindow(loop))
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            loop.execute {
                _ = loop.scheduleTimer(at: .now + .milliseconds(20)) { done.resume() }
            }
        }
        await loop.stop()
    }

    /// Our client and server, each on a group whose loops poll: unary and streaming calls as usual.
    @Test func callsOverLoopsThatPoll() async throws {
        let serverGroup = EventLoopGroup(numberOfLoops: 1, namePrefix: "bw-idle-s", idlePoll: .milliseconds(1))
        let clientGroup = EventLoopGroup(numberOfLoops: 1, namePrefix: "bw-idle-c", idlePoll: .milliseconds(1))
        // Windows open, so that the calls start on loops that poll (whether they stay open depends on
        // how fast this machine answers; the calls must work either way).
        #expect(await Self.openWindow(serverGroup.loops[0]))
        #expect(await Self.openWindow(clientGroup.loops[0]))
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
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
        await clientGroup.shutdownGracefully()
        await serverGroup.shutdownGracefully()
    }
}
