import BreakwaterCore
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The standard resilience chain of a client for one target: Timeout, then Retry or Hedging (with the
/// target's throttle and server pushback), then CircuitBreaker per attempt, each keyed by service and method
/// through one ``PolicyTable``.
///
/// ```swift
/// let resilience = try ResilienceConfiguration.serviceConfig(file: "resilience.json", target: "localhost:50051")
/// let client = GRPCClient(transport: transport, resilience: resilience)
/// for await event in resilience.registry.events() { print(event) }
/// ```
///
/// A value is cheap to copy; copies share the registry and the throttle, so every client made from it
/// shares its breakers and its retry tokens.
public struct ResilienceConfiguration: Sendable {
    /// The method policies.
    public let policies: PolicyTable
    /// The target's retry throttling; `nil`: none.
    public let retryThrottling: RetryThrottlingPolicy?
    /// The target, part of every breaker's key (for example `host:port`).
    public let target: String
    /// The circuit breakers: snapshots, events, and operator controls (force open, disable, reset).
    public let registry: CircuitBreakerRegistry
    /// The target's retry token bucket, shared by all its calls; `nil` without ``retryThrottling``.
    public let retryThrottle: RetryThrottle?
    /// Answers calls a breaker rejects; `nil`: they fail with the rejection.
    public let fallback: CircuitBreakerInterceptor.Fallback?
    /// Every retry of the chain, transparent or not (method, attempt, reason, backoff); shared by copies.
    public let retryEvents = RetryEvents()
    /// Where the chain logs each retry at debug level, with its method, attempt, reason and backoff.
    /// Set it before taking ``interceptors``.
    public var retryLogger = Logger(label: "breakwater.retry")
    private let clock: any Clock<Duration>
    private let random: @Sendable () -> Double

    /// Creates a configuration.
    /// - Parameters:
    ///   - policies: Timeout, retry and breaker policy per service and method.
    ///   - retryThrottling: The target's retry throttling; `nil`: none.
    ///   - target: The target, part of every breaker's key.
    ///   - clock: The monotonic clock of the breakers (when this creates the registry) and of retry
    ///     backoffs; a manual clock in tests.
    ///   - registry: The breakers; by default a new registry on `clock`. Pass one to share breakers.
    ///   - random: Numbers in [0, 1] for backoff jitter (and open-duration jitter of a new registry).
    ///   - fallback: Answers calls a breaker rejects; return `nil` to fail with the rejection.
    /// - Throws: ``ConfigurationError`` naming the first invalid policy value, e.g.
    ///   `policies["echo.Echo/Get"].circuitBreaker.failureRateThreshold: 1.5 is not in (0, 1]`: every
    ///   policy is checked here, so none fails later, on a call.
    public init(
        policies: PolicyTable,
        retryThrottling: RetryThrottlingPolicy? = nil,
        target: String,
        clock: some Clock<Duration> = ContinuousClock(),
        registry: CircuitBreakerRegistry? = nil,
        random: @escaping @Sendable () -> Double = { Double.random(in: 0...1) },
        fallback: CircuitBreakerInterceptor.Fallback? = nil
    ) throws(ConfigurationError) {
        try ServiceConfig(policies: policies, retryThrottling: retryThrottling).validate()
        self.policies = policies
        self.retryThrottling = retryThrottling
        self.target = target
        self.clock = clock
        self.random = random
        self.registry = registry ?? CircuitBreakerRegistry(clock: clock, random: random)
        self.retryThrottle = retryThrottling.map { RetryThrottle(policy: $0) }
        self.fallback = fallback
    }

    /// Creates a configuration from a service config.
    /// - Throws: ``ConfigurationError`` naming the first invalid policy value (a config built in code;
    ///   one loaded from JSON was checked already).
    public init(
        serviceConfig: ServiceConfig,
        target: String,
        clock: some Clock<Duration> = ContinuousClock(),
        registry: CircuitBreakerRegistry? = nil,
        random: @escaping @Sendable () -> Double = { Double.random(in: 0...1) },
        fallback: CircuitBreakerInterceptor.Fallback? = nil
    ) throws(ConfigurationError) {
        try self.init(
            policies: serviceConfig.policies, retryThrottling: serviceConfig.retryThrottling, target: target,
            clock: clock, registry: registry, random: random, fallback: fallback
        )
    }

    /// Reads a configuration from service-config JSON (see ``ServiceConfig``).
    /// - Parameters:
    ///   - json: The service config, UTF-8 JSON.
    ///   - target: The target, part of every breaker's key.
    ///   - clock: The monotonic clock of the breakers (when this creates the registry) and of backoffs.
    ///   - registry: The breakers; by default a new registry on `clock`. Pass one to share breakers.
    ///   - fallback: Answers calls a breaker rejects; return `nil` to fail with the rejection.
    ///   - unknownFields: Whether fields Breakwater does not use are errors (the default) or are left
    ///     out with a warning each, logged on `logger`.
    ///   - logger: Where a lenient load logs the fields it left out.
    /// - Throws: ``ConfigurationError`` naming the offending field; nothing is half-applied.
    public static func serviceConfig(
        json: Data,
        target: String,
        clock: some Clock<Duration> = ContinuousClock(),
        registry: CircuitBreakerRegistry? = nil,
        fallback: CircuitBreakerInterceptor.Fallback? = nil,
        unknownFields: ServiceConfig.UnknownFields = .reject,
        logger: Logger = Logger(label: "breakwater.service-config")
    ) throws(ConfigurationError) -> ResilienceConfiguration {
        let config = try ServiceConfig(json: json, unknownFields: unknownFields)
        for warning in config.warnings {
            logger.warning("service config field left out", metadata: ["field": "\(warning.path)", "reason": "\(warning.reason)"])
        }
        return try ResilienceConfiguration(
            serviceConfig: config, target: target, clock: clock, registry: registry, fallback: fallback)
    }

    /// Reads a configuration from a service-config JSON string.
    /// - Throws: ``ConfigurationError`` naming the offending field.
    public static func serviceConfig(
        json: String,
        target: String,
        clock: some Clock<Duration> = ContinuousClock(),
        registry: CircuitBreakerRegistry? = nil,
        fallback: CircuitBreakerInterceptor.Fallback? = nil,
        unknownFields: ServiceConfig.UnknownFields = .reject,
        logger: Logger = Logger(label: "breakwater.service-config")
    ) throws(ConfigurationError) -> ResilienceConfiguration {
        try serviceConfig(
            json: Data(json.utf8), target: target, clock: clock, registry: registry, fallback: fallback,
            unknownFields: unknownFields, logger: logger)
    }

    /// Reads a configuration from a service-config JSON file.
    /// - Throws: ``ConfigurationError`` naming the offending field, or with path `(file)` when the file
    ///   cannot be read.
    public static func serviceConfig(
        file path: String,
        target: String,
        clock: some Clock<Duration> = ContinuousClock(),
        registry: CircuitBreakerRegistry? = nil,
        fallback: CircuitBreakerInterceptor.Fallback? = nil,
        unknownFields: ServiceConfig.UnknownFields = .reject,
        logger: Logger = Logger(label: "breakwater.service-config")
    ) throws(ConfigurationError) -> ResilienceConfiguration {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationError(path: "(file)", value: path, reason: "cannot be read: \(error)")
        }
        return try serviceConfig(
            json: data, target: target, clock: clock, registry: registry, fallback: fallback,
            unknownFields: unknownFields, logger: logger)
    }

    /// The timeout interceptor of the chain.
    public var timeoutInterceptor: TimeoutInterceptor {
        TimeoutInterceptor(policies: policies)
    }

    /// The retry interceptor of the chain, with the target's throttle.
    public var retryInterceptor: RetryInterceptor {
        RetryInterceptor(
            policies: policies, throttle: retryThrottle, clock: clock, random: random, logger: retryLogger,
            events: retryEvents)
    }

    /// The hedging interceptor of the chain, with the target's throttle and ``retryEvents`` (shared with
    /// retries).
    public var hedgingInterceptor: HedgingInterceptor {
        HedgingInterceptor(policies: policies, throttle: retryThrottle, clock: clock, events: retryEvents)
    }

    /// The circuit breaker interceptor of the chain, with ``registry``.
    public var circuitBreakerInterceptor: CircuitBreakerInterceptor {
        CircuitBreakerInterceptor(policies: policies, target: target, registry: registry, fallback: fallback)
    }

    /// The standard chain: Timeout, then Retry (or Hedging, for a method with a hedging policy), then
    /// CircuitBreaker per attempt, as one ``ResilienceInterceptor`` that applies to every method and
    /// resolves each method's policies (and breaker) once. A method without a timeout, retry or breaker
    /// policy skips that stage (apart from the transparent retry, which hedged methods do without).
    public var interceptors: [ConditionalInterceptor<any ClientInterceptor>] {
        [.apply(resilienceInterceptor, to: .all)]
    }

    /// The three stages as one interceptor.
    public var resilienceInterceptor: ResilienceInterceptor {
        ResilienceInterceptor(
            timeout: timeoutInterceptor, retry: retryInterceptor, circuitBreaker: circuitBreakerInterceptor,
            hedging: hedgingInterceptor)
    }

    /// Snapshots of every breaker created so far, sorted by key.
    public func breakerSnapshots() -> [CircuitBreakerSnapshot] {
        registry.snapshots()
    }
}
