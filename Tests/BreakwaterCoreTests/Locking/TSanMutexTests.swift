@_spi(Locking) import BreakwaterCore
import Foundation
import Testing

@Suite("TSanMutex")
struct TSanMutexTests {
    private final class Counter: Sendable {
        let count = TSanMutex(0)
    }

    /// Runs `work` on `threads` OS threads (not the cooperative pool) at once and waits for all of them.
    private static func onThreads(_ threads: Int, _ work: @escaping @Sendable () -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<threads {
                group.addTask {
                    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                        Thread.detachNewThread {
                            work()
                            done.resume()
                        }
                    }
                }
            }
        }
    }

    // Under `scripts/test.sh --sanitize thread` this is also the check that TSan sees the lock: the same
    // counter under a plain `Synchronization.Mutex` is reported as a race there.
    @Test("four threads counting under one TSanMutex lose no increment")
    func fourThreadCounter() async {
        let counter = Counter()
        await Self.onThreads(4) {
            for _ in 0..<10_000 { counter.count.withLock { $0 += 1 } }
        }
        #expect(counter.count.withLock { $0 } == 40_000)
    }

    @Test("withLock returns the body's result and rethrows its typed error")
    func resultAndTypedThrows() {
        struct Refused: Error, Equatable {}
        let lock = TSanMutex([1, 2, 3])
        #expect(lock.withLock { $0.removeLast() } == 3)
        #expect(throws: Refused()) {
            try lock.withLock { (value: inout [Int]) throws(Refused) -> Int in
                value.append(9)
                throw Refused()
            }
        }
        #expect(lock.withLock { $0 } == [1, 2, 9])
    }
}
