@_spi(Locking) import BreakwaterCore
import Logging

/// The circuit breakers of a client, created lazily, one per (target, service, method), or per
/// (target, service) when a policy's ``CircuitBreakerPolicy/scope`` is ``CircuitBreakerPolicy/Scope/service``.
///
/// All breakers share the registry's clock, logger and observer, and their events also flow into
/// the registry's ``events(bufferingNewest:)``. A breaker keeps the policy it was created with.
public final class CircuitBreakerRegistry: Sendable {
    private let breakers = TSanMutex<[BreakerKey: CircuitBreaker]>([:])
    private let timeline: BreakerTimeline
    private let random: @Sendable () -> Double
    private let logger: Logger
    /// The subscribers and the observer every breaker forwards its events to.
    private let events: RegistryEvents
    /// How many of the registry's breakers may reject now.
    let activity = BreakerActivity()

    /// Creates an empty registry.
    ///
    /// - Parameters:
    ///   - clock: The monotonic clock of every breaker.
    ///   - random: Numbers in [0, 1] for open-duration jitter.
    ///   - logger: The logger of every breaker.
    ///   - observer: Called with every event of every breaker.
    public init(
        clock: some Clock<Duration> = ContinuousClock(),
        random: @escaping @Sendable () -> Double = { Double.random(in: 0...1) },
        logger: Logger = Logger(label: "breakwater.circuit-breaker"),
        observer: (@Sendable (CircuitBreakerEvent) -> Void)? = nil
    ) {
        self.timeline = BreakerTimeline(clock)
        self.random = random
        self.logger = logger
        self.events = RegistryEvents(observer: observer)
    }

    deinit {
        events.close()
    }

    /// The breaker for `method` on `target` under `policy`, created on first use.
    /// - Throws: ``ConfigurationError`` when the breaker must be created and `policy` is invalid.
    public func breaker(
        target: String, method: MethodDescriptor, policy: CircuitBreakerPolicy
    ) throws(ConfigurationError) -> CircuitBreaker {
        try breaker(for: BreakerKey(target: target, method: method, scope: policy.scope), policy: policy)
    }

    /// The breaker for `key`, created with `policy` on first use.
    /// - Throws: ``ConfigurationError`` when the breaker must be created and `policy` is invalid.
    public func breaker(for key: BreakerKey, policy: CircuitBreakerPolicy) throws(ConfigurationError) -> CircuitBreaker {
        if let breaker = breakers.withLock({ $0[key] }) { return breaker }
        let created = try CircuitBreaker(
            key: key, policy: policy, timeline: timeline, random: random, logger: logger,
            observer: nil, registryEvents: events, activity: activity
        )
        // Another caller may have created it meanwhile: the first one stored wins.
        return breakers.withLock { breakers in
            if let breaker = breakers[key] { return breaker }
            breakers[key] = created
            return created
        }
    }

    /// The breaker for `key`, if one was created.
    public func existingBreaker(for key: BreakerKey) -> CircuitBreaker? {
        breakers.withLock { $0[key] }
    }

    /// Snapshots of every breaker, sorted by key.
    public func snapshots() -> [CircuitBreakerSnapshot] {
        let breakers = self.breakers.withLock { Array($0.values) }
        return breakers.map { $0.snapshot() }.sorted { $0.key < $1.key }
    }

    /// A stream of every breaker's transitions and rejections from now on.
    ///
    /// Events of one breaker arrive in order unless they race on different threads; use
    /// ``CircuitBreaker/events(bufferingNewest:)`` for a strictly ordered stream of one breaker.
    public func events(bufferingNewest limit: Int = 256) -> AsyncStream<CircuitBreakerEvent> {
        events.stream(bufferingNewest: limit)
    }
}
