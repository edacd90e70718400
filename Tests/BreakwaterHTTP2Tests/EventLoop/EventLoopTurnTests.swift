#if canImport(Glibc)
import Glibc
#endif
import BreakwaterCore
import BreakwaterTestSupport
import Testing
@testable import BreakwaterHTTP2

/// The order of work within one turn of an event loop.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct EventLoopTurnTests {
    /// At the end of a turn, resumes the task that waits, as a client stream wakes its reader.
    final class Waker: EventLoopTurnObserver, @unchecked Sendable {
        // Safety: both vars are touched only on the loop's thread (in `loop.execute` and `endOfTurn`).
        var waiting: UnsafeContinuation<Void, Never>?
        var resumedInTurn = -1
        let loop: EventLoop

        init(loop: EventLoop) { self.loop = loop }

        func endOfTurn() {
            resumedInTurn = loop.turnCount
            waiting.take()?.resume()
        }
    }

    /// Resumes a task that prefers `loop` from a turn observer; returns the turns in which it was resumed
    /// and in which it ran. With `clientStreams`, the loop counts that many open client streams meanwhile.
    static func resumeFromObserver(on loop: EventLoop, clientStreams: Int) async -> (resumed: Int, ran: Int) {
        let waker = Waker(loop: loop)
        return await Task(executorPreference: loop) {
            await withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
                loop.execute {
                    loop.openClientStreams += clientStreams
                    waker.waiting = c
                    loop.addTurnObserver(waker)
                }
            }
            loop.openClientStreams -= clientStreams
            return (waker.resumedInTurn, loop.turnCount)
        }.value
    }

    /// With client streams open, a task that prefers the loop and is resumed by a turn observer runs in
    /// that same turn: a reader woken at the end of a turn takes its messages before the loop polls again.
    @Test func aReaderResumedAtTheEndOfATurnRunsInThatTurn() async throws {
        let loop = EventLoop(name: "bw-turn-1")
        let (resumed, ran) = await Self.resumeFromObserver(on: loop, clientStreams: 1)
        #expect(resumed > 0)
        #expect(ran == resumed)
        await loop.stop()
    }

    /// Without client streams (a server's loop), the resumed task runs after the next poll, which may bring
    /// more requests for it to answer together.
    @Test func withoutClientStreamsTheResumedTaskRunsAfterThePoll() async throws {
        let loop = EventLoop(name: "bw-turn-2")
        let (resumed, ran) = await Self.resumeFromObserver(on: loop, clientStreams: 0)
        #expect(resumed > 0)
        #expect(ran == resumed + 1)
        await loop.stop()
    }
}

/// Work handed to a loop while it handles the I/O that woke it costs no wake-up write.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct EventLoopWakeUpTests {
    /// On each readable event, drains the pipe and hands `react` to the loop as other code would.
    final class PipeReader: EventLoopFDHandler, @unchecked Sendable {
        // Safety: `react` is set before the descriptor is registered and only read on the loop's thread.
        let fd: Int32
        let loop: EventLoop
        var react: (@Sendable () -> Void)?

        init(fd: Int32, loop: EventLoop) {
            self.fd = fd
            self.loop = loop
        }

        func handleEvents(_ events: IOEvents) {
            var byte: UInt8 = 0
            _ = Glibc.read(fd, &byte, 1)
            if let react { loop.execute(react) }
        }

        func eventLoopStopping() {}
    }

    /// A response read wakes a caller who at once hands the loop its next request: the loop is awake then,
    /// so the hand-over must not write to its wake-up descriptor (one syscall per call, and an extra event).
    @Test func workHandedOverDuringIOCostsNoWakeUp() async throws {
        let loop = EventLoop(name: "bw-wake-1")
        var fds: [Int32] = [0, 0]
        #expect(Glibc.pipe(&fds) == 0)
        let (readEnd, writeEnd) = (fds[0], fds[1])
        let reader = PipeReader(fd: readEnd, loop: loop)
        let handedOver = AsyncStream<Int>.makeStream()
        reader.react = { handedOver.continuation.yield(loop.wakeUps) }
        await withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
            loop.execute {
                _ = loop.register(fd: readEnd, interest: .readable, handler: reader)
                c.resume()
            }
        }
        var results = handedOver.stream.makeAsyncIterator()
        for _ in 0..<3 {
            // Until the loop sleeps, so that the byte is what wakes it.
            while !loop.isWaitingForIO { try await Task.sleep(for: .milliseconds(1)) }
            let before = loop.wakeUps
            var byte: UInt8 = 1
            #expect(Glibc.write(writeEnd, &byte, 1) == 1)
            let during = await results.next()
            #expect(during == before)
        }
        await withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
            loop.execute {
                loop.unregister(fd: readEnd)
                c.resume()
            }
        }
        Glibc.close(readEnd)
        Glibc.close(writeEnd)
        await loop.stop()
    }
}
