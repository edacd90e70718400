#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The arithmetic of the interleaved-batch benchmarks (`breakwater-observability`, `breakwater-chain-cost`):
/// time per call of a batch, the process's CPU clock, medians over rounds.
public enum BatchTiming {
    /// `duration` divided over `count` calls, in nanoseconds.
    public static func nanoseconds(_ duration: Duration, per count: Int) -> Double {
        let (seconds, attoseconds) = duration.components
        return (Double(seconds) * 1e9 + Double(attoseconds) / 1e9) / Double(count)
    }

    /// The middle value (the upper one of an even count).
    public static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    /// The CPU time the process has used, all its threads, in nanoseconds.
    public static func processCPUNanoseconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) * 1e9 + Double(time.tv_nsec)
    }
}
