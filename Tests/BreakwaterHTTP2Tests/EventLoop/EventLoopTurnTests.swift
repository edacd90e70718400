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

    /// A task that prefers the loop and is resumed by a turn observer runs in that same turn: a reader
    /// woken at the end of a turn takes its messages before the loop polls again.
    @Test func aTaskResumedAtTheEndOfATurnRunsInThatTurn() async throws {
        let loop = EventLoop(name: "bw-turn-1")
        let waker = Waker(loop: loop)
        let (ranInTurn, resumedInTurn) = await Task(executorPreference: loop) {
            await withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
                loop.execute {
                    waker.waiting = c
                    loop.addTurnObserver(waker)
                }
            }
            return (loop.turnCount, waker.resumedInTurn)
        }.value
        #expect(resumedInTurn > 0)
        #expect(ranInTurn == resumedInTurn)
        await loop.stop()
    }
}
