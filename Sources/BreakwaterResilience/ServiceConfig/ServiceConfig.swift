#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The resilience part of a gRPC service config: per-method policies and retry throttling.
///
/// Read from the standard JSON (`methodConfig[]` with `name`, `timeout`, `retryPolicy`; top-level
/// `retryThrottling`) plus one extension object per method config, `circuitBreakerPolicy`:
///
/// ```json
/// {
///   "methodConfig": [{
///     "name": [{"service": "echo.Echo", "method": "Get"}],
///     "timeout": "1.5s",
///     "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.1s", "maxBackoff": "1s",
///                     "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]},
///     "circuitBreakerPolicy": {"consecutiveFailures": 5, "openDuration": "30s",
///                              "slidingWindow": {"type": "COUNT", "size": 50}}
///   }],
///   "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1}
/// }
/// ```
///
/// `circuitBreakerPolicy` fields (all optional; defaults as ``CircuitBreakerPolicy``):
/// `consecutiveFailures` (integer; 0 turns the rule off), `failureRateThreshold` and
/// `slowCallRateThreshold` (numbers in (0, 1]), `slidingWindow` (`{"type": "COUNT" | "TIME",
/// "size": integer}`, calls (at most 1,000,000) or seconds), `minimumCalls`, `slowCallDurationThreshold`,
/// `openDuration`, `maxOpenDuration` and `probeLease` (durations), `openDurationMultiplier`,
/// `jitter`, `halfOpenProbes`, `successThreshold`, `failureStatusCodes` and `neutralStatusCodes`
/// (status names or numbers), and `scope` (`"METHOD"` or `"SERVICE"`). Unknown fields are errors.
///
/// Loading either succeeds whole or throws a ``ConfigurationError`` naming the field path and value,
/// e.g. `methodConfig[0].retryPolicy.maxAttempts: 1 is not > 1`.
public struct ServiceConfig: Sendable, Hashable {
    /// The method policies.
    public var policies: PolicyTable
    /// The target's retry throttling; `nil`: none.
    public var retryThrottling: RetryThrottlingPolicy?

    /// Creates a config.
    public init(policies: PolicyTable = PolicyTable(), retryThrottling: RetryThrottlingPolicy? = nil) {
        self.policies = policies
        self.retryThrottling = retryThrottling
    }

    /// Parses a service config from JSON bytes.
    public init(json: Data) throws(ConfigurationError) {
        let root: JSONValue
        do {
            root = try JSONDecoder().decode(JSONValue.self, from: json)
        } catch {
            throw ConfigurationError(path: "(root)", value: "", reason: "is not valid JSON: \(error)")
        }
        self = try ServiceConfigParser.parse(root)
    }

    /// Parses a service config from a JSON string.
    public init(json: String) throws(ConfigurationError) {
        try self.init(json: Data(json.utf8))
    }
}
