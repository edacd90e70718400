@_spi(Locking) import BreakwaterCore
import BreakwaterTestSupport
import Foundation
import Testing
@testable import BreakwaterHTTP2

#if canImport(Glibc)
import Glibc
#endif

/// `submit`: a caller stands in for a loop that waits for I/O, so that its command (a request to write)
/// needs no wake-up of the loop; otherwise the command is queued behind what was queued before it.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct EventLoopSubmitTests {
    /// Which thread ran a closure, and whether it was acting as the loop there.
    final class Record: Sendable {
        let runs = TSanMutex<[(thread: UInt, actingAsLoop: Bool)]>([])
        func note(_ loop: EventLoop) {
            let entry = (UInt(pthread_self()), loop.inEventLoop)
            runs.withLock { $0.append(entry) }
        }
        var all: [(thread: UInt, actingAsLoop: Bool)] { runs.withLock { $0 } }
    }

    static func loopThread(_ loop: EventLoop) async -> UInt {
        await withCheckedContinuation { c in loop.execute { c.resume(returning: UInt(pthread_self())) } }
    }

    static func openClientStreams(_ loop: EventLoop) async -> Int {
        await withCheckedContinuation { c in loop.execute { c.resume(returning: loop.openClientStreams) } }
    }

    /// Waits until the loop has gone back to waiting for I/O with nothing queued (a `submit` then runs
    /// where it is called; checked through the loop's own queue state).
    static func waitUntilAsleep(_ loop: EventLoop) async {
        #expect(await eventually { loop.isWaitingForIO })
    }

    @Test func runsOnTheCallingThreadWhileTheLoopSleeps() async throws {
        let loop = EventLoop(name: "bw-submit-1")
        defer { Task { await loop.stop() } }
        let loopThread = await Self.loopThread(loop)
        await Self.waitUntilAsleep(loop)
        let record = Record()
        let caller = Thread.detachNewThreadAndWait { loop.submit { record.note(loop) } }
        let runs = record.all
        try #require(runs.count == 1)
        // It ran before `submit` returned, on the caller's thread, which acted as the loop meanwhile.
        #expect(runs[0].thread == caller)
        #expect(runs[0].thread != loopThread)
        #expect(runs[0].actingAsLoop)
        // Afterwards the caller is not the loop, and the loop still runs what it is handed.
        #expect(Thread.detachNewThreadAndWait { _ = loop.inEventLoop } != loopThread)
        #expect(await Self.loopThread(loop) == loopThread)
    }

    @Test func waitsItsTurnBehindQueuedWork() async throws {
        let loop = EventLoop(name: "bw-submit-2")
        defer { Task { await loop.stop() } }
        let loopThread = await Self.loopThread(loop)
        let release = DispatchSemaphore(value: 0)
        let order = TSanMutex<[String]>([])
        // The loop is busy (it runs a closure that waits), then has queued work: `submit` must queue too.
        loop.execute {
            release.wait()
            order.withLock { $0.append("first") }
        }
        loop.execute { order.withLock { $0.append("second") } }
        let record = Record()
        loop.submit {
            record.note(loop)
            order.withLock { $0.append("submitted") }
        }
        release.signal()
        #expect(await eventually { order.withLock { $0.count } == 3 })
        #expect(order.withLock { $0 } == ["first", "second", "submitted"])
        #expect(record.all.map(\.thread) == [loopThread])
    }

    /// While a client stream is open on the loop, callers queue instead of standing in: the loop's next
    /// wake-up writes what they queued together.
    @Test func queuesWhileAClientStreamIsOpen() async throws {
        let server = try await TestServer.start()
        // A loop of its own: the shared ones carry other tests' streams.
        let group = EventLoopGroup(numberOfLoops: 1, namePrefix: "bw-submit-4")
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port, group: group)
        _ = await TestCalls.call(client, "Echo", [[0]])
        let loop = client.eventLoop
        let hanging = Task { await TestCalls.call(client, "Hang", [[1]]) }
        await server.dispatcher.waitForAccepted(2)
        #expect(await Self.openClientStreams(loop) == 1)
        await Self.waitUntilAsleep(loop)
        let loopThread = await Self.loopThread(loop)
        await Self.waitUntilAsleep(loop)
        let record = Record()
        let caller = Thread.detachNewThreadAndWait { loop.submit { record.note(loop) } }
        #expect(await eventually { record.all.count == 1 })
        #expect(record.all.map(\.thread) == [loopThread])
        #expect(record.all.first?.thread != caller)
        hanging.cancel()
        #expect(await hanging.value.status.code == .cancelled)
        // Once the stream has ended, the count is back to none.
        var after = -1
        for _ in 0..<500 {
            after = await Self.openClientStreams(loop)
            if after == 0 { break }
            try? await Task.sleep(for: .milliseconds(10))
        }
        #expect(after == 0)
        await client.close()
        await group.shutdownGracefully()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    /// A stand-in that arms a timer the sleeping loop would sleep past wakes the loop, so the timer fires.
    @Test func aTimerArmedByAStandInFires() async throws {
        let loop = EventLoop(name: "bw-submit-3")
        defer { Task { await loop.stop() } }
        _ = await Self.loopThread(loop)
        await Self.waitUntilAsleep(loop)
        let fired = TSanMutex(false)
        let ranHere = TSanMutex(false)
        _ = Thread.detachNewThreadAndWait {
            loop.submit {
                ranHere.withLock { $0 = loop.inEventLoop }
                _ = loop.scheduleTimer(at: .now + .milliseconds(20)) { fired.withLock { $0 = true } }
            }
        }
        #expect(ranHere.withLock { $0 })
        #expect(await eventually { fired.withLock { $0 } })
    }

    /// The whole path: a unary call whose request the caller writes itself gets its answer, many times
    /// over one connection, with deadlines (whose timers a stand-in arms and the loop cancels).
    @Test func callsWithDeadlinesOverLoopbackComplete() async throws {
        let server = try await TestServer.start()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        for i in 0..<200 {
            let result = await TestCalls.call(client, "Echo", [[UInt8(i % 256)]], deadline: .now + .seconds(30))
            #expect(result.status.code == .ok)
            #expect(result.messages == [[UInt8(i % 256)]])
        }
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }
}

extension Thread {
    /// Runs `body` on a new thread (not one of Swift's pool) and returns that thread's id once it is done.
    static func detachNewThreadAndWait(_ body: @escaping @Sendable () -> Void) -> UInt {
        let done = DispatchSemaphore(value: 0)
        let id = TSanMutex<UInt>(0)
        Thread.detachNewThread {
            id.withLock { $0 = UInt(pthread_self()) }
            body()
            done.signal()
        }
        done.wait()
        return id.withLock { $0 }
    }
}
