import BreakwaterCore
import BreakwaterTestSupport
import Testing
@testable import BreakwaterHTTP2

#if canImport(Glibc)
import Glibc
#endif

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

    /// Runs `work` on the loop's thread and returns once it has.
    static func onLoop(_ loop: EventLoop, _ work: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            loop.execute {
                work()
                c.resume()
            }
        }
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
        await Self.onLoop(loop) { _ = loop.register(fd: readEnd, interest: .readable, handler: reader) }
        var results = handedOver.stream.makeAsyncIterator()
        for _ in 0..<3 {
            // Asleep first, so that the byte is what wakes it.
            await EventLoopSubmitTests.waitUntilAsleep(loop)
            let before = loop.wakeUps
            var byte: UInt8 = 1
            #expect(Glibc.write(writeEnd, &byte, 1) == 1)
            let during = await results.next()
            #expect(during == before)
        }
        await Self.onLoop(loop) { loop.unregister(fd: readEnd) }
        Glibc.close(readEnd)
        Glibc.close(writeEnd)
        await loop.stop()
    }
}
