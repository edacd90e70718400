import BreakwaterCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The resilience part of a gRPC service config: per-method policies, retry throttling and load
/// balancing.
///
/// Read from the standard JSON (`methodConfig[]` with `name`, `timeout`, `retryPolicy` or `hedgingPolicy`
/// (`maxAttempts`, `hedgingDelay`, `nonFatalStatusCodes`; a method config with both is an error), `waitForReady`,
/// `maxRequestMessageBytes`, `maxResponseMessageBytes`; top-level `retryThrottling`) plus one extension
/// object per method config, `circuitBreakerPolicy`:
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
/// `loadBalancingConfig` (a list; the first policy Breakwater implements is used, unknown names are
/// skipped as in gRPC) gives ``loadBalancing``, for `HTTP2ClientTransport(target:loadBalancing:)`:
/// `{"pick_first": {}}`, `{"round_robin": {}}`, `{"least_request": {"choiceCount": 2}}` (also
/// `least_request_experimental`), and gRFC A50's outlier detection around one of them:
///
/// ```json
/// "loadBalancingConfig": [{"outlier_detection": {
///     "interval": "10s", "baseEjectionTime": "30s", "maxEjectionTime": "300s", "maxEjectionPercent": 34,
///     "consecutiveFailures": 5,
///     "failurePercentageEjection": {"threshold": 85, "minimumHosts": 3, "requestVolume": 20},
///     "childPolicy": [{"round_robin": {}}]}}]
/// ```
///
/// (`outlier_detection_experimental` too; `consecutiveFailures` is Breakwater's, 0 turns it off;
/// `successRateEjection` is not implemented.) The deprecated `loadBalancingPolicy: "round_robin"` is read
/// when there is no `loadBalancingConfig`.
///
/// Every field of gRPC's service config is either used or reported. By default
/// (``UnknownFields/reject``) a field Breakwater does not use is an error: a misspelt `"timout"`, or a
/// gRPC field it does not implement yet (outlier detection's `successRateEjection`). ``UnknownFields/warn``
/// loads the rest and lists those fields in ``warnings``,
/// for a config shared with other gRPC clients.
///
/// Loading either succeeds whole or throws a ``ConfigurationError`` naming the field path and value,
/// e.g. `methodConfig[0].retryPolicy.maxAttempts: 1 is not > 1`; text that is not JSON names the line
/// and column, e.g. `(root): is not valid JSON: line 3, column 15: expected a value, found "}"`.
public struct ServiceConfig: Sendable, Hashable {
    /// What a load does with a field it does not use.
    public enum UnknownFields: Sendable, Hashable {
        /// The field is an error (the default).
        case reject
        /// The field is left out and listed in ``ServiceConfig/warnings``.
        case warn
    }

    /// The method policies.
    public var policies: PolicyTable
    /// The target's retry throttling; `nil`: none.
    public var retryThrottling: RetryThrottlingPolicy?
    /// The load balancing `loadBalancingConfig` asks for; `nil`: the config says nothing (pick_first).
    public var loadBalancing: LoadBalancingConfig?
    /// The fields a ``UnknownFields/warn`` load left out, each with its path; empty otherwise.
    public var warnings: [ConfigurationError] = []

    /// Creates a config.
    public init(policies: PolicyTable = PolicyTable(), retryThrottling: RetryThrottlingPolicy? = nil) {
        self.policies = policies
        self.retryThrottling = retryThrottling
    }

    /// Parses a service config from JSON bytes.
    /// - Parameters:
    ///   - json: UTF-8 JSON text.
    ///   - unknownFields: Whether fields Breakwater does not use are errors or ``warnings``.
    public init(json: Data, unknownFields: UnknownFields = .reject) throws(ConfigurationError) {
        let root: JSONValue
        do {
            root = try JSONParser.parse(json)
        } catch {
            throw ConfigurationError(path: "(root)", value: "", reason: "is not valid JSON: \(error)")
        }
        var report = ServiceConfigParser.Report(unknownFields: unknownFields)
        self = try ServiceConfigParser.parse(root, &report)
    }

    /// Parses a service config from a JSON string.
    public init(json: String, unknownFields: UnknownFields = .reject) throws(ConfigurationError) {
        try self.init(json: Data(json.utf8), unknownFields: unknownFields)
    }

    /// Checks every policy and the throttling, as a load from JSON does: the first invalid value, with
    /// its path (`policies["echo.Echo/Get"].retry.maxAttempts`, `retryThrottling.tokenRatio`).
    public func validate() throws(ConfigurationError) {
        try policies.validate()
        if let reason = loadBalancing?.invalidReason {
            throw ConfigurationError(path: "loadBalancing", value: "", reason: reason)
        }
        if let retryThrottling {
            do { try retryThrottling.validate() } catch { throw error.prefixed("retryThrottling") }
        }
    }
}
