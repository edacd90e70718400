#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How many times slower than normal the tests run: `BREAKWATER_TEST_TIME_SCALE` (a whole number, 1 when
/// unset), which `scripts/test.sh --sanitize` sets, since ThreadSanitizer and AddressSanitizer slow the
/// code several times.
///
/// Only hang guards scale with it (a suite's `.timeLimit`), never a bound that tells two behaviours apart
/// ("ended by the deadline, not by the 5 s connect timeout"): stretched, such a bound would stop testing
/// anything.
public enum TestTime {
    public static let scale: Int = {
        guard let raw = getenv("BREAKWATER_TEST_TIME_SCALE"), let value = Int(String(cString: raw)), value >= 1
        else { return 1 }
        return value
    }()

    /// `minutes` times `scale`, for a suite's `.timeLimit(.minutes(...))`.
    public static func minutes(_ minutes: Int) -> Int { minutes * scale }
}
