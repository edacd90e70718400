import BreakwaterCore

/// How many calls of a method a client lets run at once; the excess is rejected at once with
/// RESOURCE_EXHAUSTED, before any network I/O.
public enum ConcurrencyLimitPolicy: Sendable, Hashable {
    /// A bulkhead: at most this many calls in flight.
    case fixed(Int)
    /// A limit that follows the measured latency (``GradientLimit``).
    case adaptive(GradientLimit.Configuration)

    /// Checks the policy; the error's path names the field (`fixed`, `adaptive.minLimit`, ...).
    public func validate() throws(ConfigurationError) {
        switch self {
        case .fixed(let n):
            if n < 1 { throw ConfigurationError(path: "fixed", value: "\(n)", reason: "is not >= 1") }
        case .adaptive(let configuration):
            do { try configuration.validate() } catch { throw error.prefixed("adaptive") }
        }
    }
}
