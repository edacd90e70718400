import CBreakwaterTSan
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Who acts as an event loop: its own thread for each turn, or a caller standing in for it while it waits
/// for I/O (`EventLoop.submit`). Whoever holds it may touch what the loop confines to its thread.
///
/// A flag rather than a `Mutex`: a caller only ever tries it and queues its command when it is taken, and
/// `Mutex`'s failed try makes a system call on Linux (measured: one per five calls at one call in flight).
/// The loop, which finds it taken only while a caller writes its request (a few microseconds of non-blocking
/// work), waits for it by yielding its thread. ThreadSanitizer is told about each hand-over, as `TSanMutex`
/// tells it about its lock.
final class LoopOwnership: Sendable {
    private let taken = Atomic<Bool>(false)

    /// Takes the flag if it is free; true when taken by this call.
    func tryTake() -> Bool {
        guard taken.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        bw_tsan_acquire(Unmanaged.passUnretained(self).toOpaque())
        return true
    }

    /// Takes the flag, yielding the thread while a stand-in holds it. The loop's thread only.
    func take() {
        while !tryTake() { sched_yield() }
    }

    /// Gives the flag back. Only its holder.
    func release() {
        bw_tsan_release(Unmanaged.passUnretained(self).toOpaque())
        taken.store(false, ordering: .releasing)
    }
}
