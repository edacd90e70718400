#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Nanoseconds on the monotonic clock, read with one `clock_gettime` (the vDSO on Linux), for call
/// durations: `ContinuousClock.now` and `Duration` arithmetic (128-bit) cost a few calls more, twice
/// per call.
enum MonotonicNanoseconds {
    @inline(__always)
    static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) &* 1_000_000_000 &+ Int64(time.tv_nsec)
    }
}
