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
