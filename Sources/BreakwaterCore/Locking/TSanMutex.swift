import CBreakwaterTSan
import Synchronization

/// A `Synchronization.Mutex` that ThreadSanitizer understands; use it instead of `Mutex` everywhere in the
/// package (`@_spi(Locking) import BreakwaterCore` outside this module).
///
/// On Linux `Mutex` locks with a futex inside the Synchronization module, which is not built with TSan, so
/// TSan sees no ordering between two critical sections of one `Mutex` and reports their accesses as a race
/// (four threads counting under a `Mutex<Int>` are enough). Every report then comes from a correctly locked
/// section and hides the real races. This type keeps the `Mutex` and its `withLock`, and tells TSan about
/// the lock: right after acquiring it calls `__tsan_acquire`, right before releasing `__tsan_release`, on
/// the mutex's own address (stable: the mutex is `~Copyable` and address-only, stored inline where it is
/// declared). Those runtime functions are weak symbols, null unless the TSan runtime is linked, so an
/// ordinary build pays two predictable branches per section (hoisted out of loops) and nothing else: no
/// allocation, the same inline storage as `Mutex`.
///
/// SPI rather than `package`: the compiler does not make the bodies of a `package` type's `@inlinable`
/// members available to other modules, so every `withLock` in BreakwaterHTTP2 and BreakwaterResilience
/// was a call to the unspecialized generic (about 50 ns more per section). SPI keeps it out of the public
/// API just as well: a client sees it only through an explicit `@_spi(Locking) import`.
@_spi(Locking)
public struct TSanMutex<Value: ~Copyable>: ~Copyable, Sendable {
    @usableFromInline
    let mutex: Mutex<Value>

    @inlinable @inline(__always)
    public init(_ initialValue: consuming sending Value) {
        mutex = Mutex(initialValue)
    }

    /// Runs `body` with the protected value while holding the lock, as `Mutex.withLock` does.
    @inlinable @inline(__always)  // like Mutex's (transparent) withLock, also into unspecialized generic code
    public borrowing func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        // The mutex's address, not the value's: taking the value's address is itself an access TSan would
        // record before the acquire below.
        let address = withUnsafePointer(to: self) { UnsafeMutableRawPointer(mutating: $0) }
        return try mutex.withLock { (value: inout sending Value) throws(E) -> sending Result in
            bw_tsan_acquire(address)
            defer { bw_tsan_release(address) }
            return try body(&value)
        }
    }
}
