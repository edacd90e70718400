@_spi(Locking) import BreakwaterCore
import Logging
import Metrics
import Synchronization

/// A thread-safe circuit breaker: fail fast while a dependency is down, probe it after a while,
/// and let calls through again once it answers.
///
/// Use it around any async operation:
///
/// ```swift
/// let breaker = CircuitBreaker(name: "orders-db")
/// let order = try await breaker.run(fallback: { _ in cachedOrder }) {
///     try await database.fetchOrder(id)
/// }
/// ```
///
/// or, as an interceptor does, in two steps: ``acquire()`` before the call and
/// `record(_:for:)` after it. The rules are those of ``CircuitBreakerStateMachine``; this class
/// adds a lock, a clock, events, logs and metrics.
///
/// The hot path (CLOSED, success) reads one atomic to admit the call and takes one short lock to
/// record it, allocating nothing.
public final class CircuitBreaker: Sendable {
    /// The right to make one call; hand it back to `record(_:for:)`.
    public struct Permit: Sendable, Hashable {
        let inner: CircuitBreakerStateMachine<BreakerInstant>.Permit

        /// The breaker generation the call was admitted in.
        public var generation: UInt64 { inner.generation }
        /// Whether the call was admitted as a half-open probe.
        public var isProbe: Bool { inner.isProbe }
    }

    /// A rejection's error as a call fails with it, with the state and the tenth of a second before the
    /// probe it was made for: the rejections of that state and tenth share it (see ``rejectionError(_:)``),
    /// so a breaker that rejects thousands of calls a second formats its message and boxes its cause and
    /// itself about ten times a second. A class, immutable, so that handing it out is one retain.
    final class SharedRejectionError: Sendable {
        let error: RPCError
        /// `error` boxed once as the `any Error` a call throws: throwing it again allocates nothing, where
        /// throwing `error` from a typed `throws(RPCError)` into an untyped `throws` boxes it anew.
        let boxed: any Error & Sendable
        private let state: CircuitState
        /// The tenth: a `retryAfter` in `(lower, upper]` rounds up to the same tenths (`nil`: none).
        private let bounds: (lower: Duration, upper: Duration)?

        init(_ rejection: CircuitBreakerRejection) {
            error = rejection.rpcError
            boxed = error
            state = rejection.state
            bounds = rejection.retryAfter.map { retryAfter in
                let upper = Duration.milliseconds(tenthsOfSecondRoundedUp(retryAfter) * 100)
                return (upper - .milliseconds(100), upper)
            }
        }

        /// Whether it was made for a rejection in `state` in the same tenth as `retryAfter`: two
        /// comparisons, where rounding `retryAfter` to tenths divides 128-bit numbers.
        func matches(state: CircuitState, retryAfter: Duration?) -> Bool {
            guard self.state == state else { return false }
            switch (retryAfter, bounds) {
            case (nil, nil): return true
            case (let retryAfter?, let bounds?): return bounds.lower < retryAfter && retryAfter <= bounds.upper
            default: return false
            }
        }
    }

    private struct State: Sendable {
        var machine: CircuitBreakerStateMachine<BreakerInstant>
        var subscribers = EventSubscribers<CircuitBreakerEvent>()
        /// Kept under the same lock as the machine, so that a rejection takes one lock, not two.
        var lastRejection: SharedRejectionError?
    }

    /// What the breaker protects; names it in errors, events, logs and metrics.
    public let key: BreakerKey
    /// The breaker's policy.
    public let policy: CircuitBreakerPolicy

    private let state: TSanMutex<State>
    /// `CircuitState.rawValue | generation << 3`, stored under `state`'s lock after every change and
    /// read without it by `acquire`, so that CLOSED admits without locking.
    private let published: Atomic<UInt64>
    /// The registry's count of breakers that may reject, kept by every change of `published`; `nil` for a
    /// breaker made outside a registry.
    private let activity: BreakerActivity?
    private let timeline: BreakerTimeline
    /// Whether a CLOSED admission must read the clock (the policy times calls for its slow-call rule).
    private let admissionUsesTime: Bool
    private let logger: Logger
    private let observer: (@Sendable (CircuitBreakerEvent) -> Void)?
    /// Where a registry's breaker forwards every event; `nil` for a breaker made outside a registry.
    private let registryEvents: RegistryEvents?
    private let rejectionCounter: Counter
    private let stateGauge: Gauge
    /// The factory current when the breaker was made (bootstrapped, or bound with `withMetricsFactory`):
    /// transitions are counted there too, whatever task makes them.
    private let metricsFactory: any MetricsFactory

    /// Creates a CLOSED breaker.
    ///
    /// - Parameters:
    ///   - key: What the breaker protects.
    ///   - policy: Its rules.
    ///   - clock: A monotonic clock; a manual clock in tests.
    ///   - random: Numbers in [0, 1] for open-duration jitter.
    ///   - logger: Where transitions (info) and rejections (debug) are logged.
    ///   - observer: Called with every transition and rejection, outside the breaker's lock.
    /// - Throws: ``ConfigurationError`` when `policy` fails ``CircuitBreakerPolicy/validate()``.
    public convenience init(
        key: BreakerKey,
        policy: CircuitBreakerPolicy = CircuitBreakerPolicy(),
        clock: some Clock<Duration> = ContinuousClock(),
        random: @escaping @Sendable () -> Double = { Double.random(in: 0...1) },
        logger: Logger = Logger(label: "breakwater.circuit-breaker"),
        observer: (@Sendable (CircuitBreakerEvent) -> Void)? = nil
    ) throws(ConfigurationError) {
        try self.init(
            key: key, policy: policy, timeline: BreakerTimeline(clock),
            random: random, logger: logger, observer: observer
        )
    }

    /// Creates a CLOSED standalone breaker named `name` (for a database, an HTTP API, ...).
    public convenience init(
        name: String,
        policy: CircuitBreakerPolicy = CircuitBreakerPolicy(),
        clock: some Clock<Duration> = ContinuousClock(),
        random: @escaping @Sendable () -> Double = { Double.random(in: 0...1) },
        logger: Logger = Logger(label: "breakwater.circuit-breaker"),
        observer: (@Sendable (CircuitBreakerEvent) -> Void)? = nil
    ) throws(ConfigurationError) {
        try self.init(key: BreakerKey(name: name), policy: policy, clock: clock, random: random, logger: logger, observer: observer)
    }

    init(
        key: BreakerKey,
        policy: CircuitBreakerPolicy,
        timeline: BreakerTimeline,
        random: @escaping @Sendable () -> Double,
        logger: Logger,
        observer: (@Sendable (CircuitBreakerEvent) -> Void)?,
        registryEvents: RegistryEvents? = nil,
        activity: BreakerActivity? = nil
    ) throws(ConfigurationError) {
        // Checked here, where the policy is put to use: an invalid one is an error, never a trap later.
        try policy.validate()
        self.key = key
        self.policy = policy
        let machine = CircuitBreakerStateMachine<BreakerInstant>(policy: policy, random: random)
        self.state = TSanMutex(State(machine: machine))
        self.admissionUsesTime = machine.admissionUsesTime
        self.published = Atomic(Self.word(machine.state, machine.generation))
        self.activity = activity
        self.timeline = timeline
        var logger = logger
        logger[metadataKey: "circuit-breaker"] = "\(key)"
        self.logger = logger
        self.observer = observer
        self.registryEvents = registryEvents
        let dimensions = [(CircuitBreakerMetricNames.Dimension.breaker, key.description)]
        let factory = MetricsSystem.factory
        self.metricsFactory = factory
        self.rejectionCounter = Counter(label: CircuitBreakerMetricNames.rejections, dimensions: dimensions, factory: factory)
        self.stateGauge = Gauge(label: CircuitBreakerMetricNames.state, dimensions: dimensions, factory: factory)
        stateGauge.record(machine.state.rawValue)
    }

    deinit {
        for continuation in state.withLock({ $0.subscribers.takeAll() }) { continuation.finish() }
    }

    private static func word(_ state: CircuitState, _ generation: UInt64) -> UInt64 {
        UInt64(state.rawValue) | generation << 3
    }

    // MARK: Calls

    /// The current state.
    public var currentState: CircuitState {
        CircuitState(rawValue: Int(published.load(ordering: .acquiring) & 7)) ?? .closed
    }

    /// Asks to make a call. No I/O happens when the call is rejected.
    ///
    /// - Returns: A permit to pass to `record(_:for:)` when the call ends.
    /// - Throws: ``CircuitBreakerRejection`` when the breaker is open, forced open, or half-open with
    ///   every probe slot taken.
    public func acquire() throws(CircuitBreakerRejection) -> Permit {
        let word = published.load(ordering: .acquiring)
        if Self.admitsAll(word & 7) {
            // The admission time only times the call for the slow-call rule: without it, no clock read.
            let admittedAt = admissionUsesTime ? timeline.now() : BreakerInstant(offset: .zero)
            return Permit(inner: .init(generation: word >> 3, probeID: 0, admittedAt: admittedAt))
        }
        let now = timeline.now()
        let (decision, transition) = state.withLock { state in
            let (decision, transition) = state.machine.acquire(at: now)
            if let transition { publishLocked(transition, &state) }
            if case .rejected(let s, let retryAfter) = decision {
                state.subscribers.yield(.rejection(CircuitBreakerRejection(key: key, state: s, retryAfter: retryAfter)))
            }
            return (decision, transition)
        }
        if let transition { announce(transition) }
        switch decision {
        case .admitted(let permit):
            return Permit(inner: permit)
        case .rejected(let s, let retryAfter):
            let rejection = CircuitBreakerRejection(key: key, state: s, retryAfter: retryAfter)
            announce(rejection)
            throw rejection
        }
    }

    /// `rejection` as the `RPCError` a gRPC call fails with (``CircuitBreakerRejection/rpcError``).
    ///
    /// Rejections of this breaker in the same state and the same tenth of a second before the probe
    /// (the `retryAfter` rounded up to a tenth, as the message shows it) share one error: its message is
    /// rendered and its cause boxed once per tenth, not once per call. The shared error's cause is the
    /// first of those rejections, so its ``CircuitBreakerRejection/retryAfter`` may be up to 0.1 s larger
    /// than `rejection`'s; its key and state are `rejection`'s.
    public func rejectionError(_ rejection: CircuitBreakerRejection) -> RPCError {
        guard rejection.key == key else { return rejection.rpcError }
        if let cached = state.withLock({ $0.lastRejection }), cached.matches(state: rejection.state, retryAfter: rejection.retryAfter) {
            return cached.error
        }
        return rendered(rejection).error
    }

    /// The error of the rejection `acquire()` would give now, recorded as that one would be (counted,
    /// logged, an event), with one lock: ``rejectionIfRejecting()`` and ``rejectionError(_:)`` in one,
    /// as a chain that rejects a call before it builds it asks them.
    func sharedRejectionErrorIfRejecting() -> SharedRejectionError? {
        let word = published.load(ordering: .acquiring)
        if Self.admitsAll(word & 7) { return nil }
        let now = timeline.now()
        let decided = state.withLock { state -> (state: CircuitState, retryAfter: Duration?, last: SharedRejectionError?)? in
            guard case .rejected(let s, let retryAfter)? = state.machine.rejection(at: now) else { return nil }
            if !state.subscribers.isEmpty {
                state.subscribers.yield(.rejection(CircuitBreakerRejection(key: key, state: s, retryAfter: retryAfter)))
            }
            return (s, retryAfter, state.lastRejection)
        }
        guard let decided else { return nil }
        announceRejection(state: decided.state, retryAfter: decided.retryAfter)
        if let last = decided.last, last.matches(state: decided.state, retryAfter: decided.retryAfter) { return last }
        return rendered(CircuitBreakerRejection(key: key, state: decided.state, retryAfter: decided.retryAfter))
    }

    /// Renders `rejection`'s error outside the lock (formatting is the slow part) and keeps it for the
    /// rejections of the same tenth.
    private func rendered(_ rejection: CircuitBreakerRejection) -> SharedRejectionError {
        let shared = SharedRejectionError(rejection)
        state.withLock { $0.lastRejection = shared }
        return shared
    }

    /// Records how the call admitted with `permit` ended. A permit from an older generation is ignored.
    public func record(_ outcome: CallOutcome, for permit: Permit) {
        let transition = state.withLock { state -> CircuitBreakerTransition? in
            // Most records (a success in CLOSED, a failure short of the trip) do not depend on the time:
            // the clock is read, under the lock, only when the machine will use it.
            let now = state.machine.recordUsesTime(outcome, for: permit.inner) ? timeline.now() : permit.inner.admittedAt
            guard let transition = state.machine.record(outcome, for: permit.inner, at: now) else { return nil }
            publishLocked(transition, &state)
            return transition
        }
        if let transition { announce(transition) }
    }

    /// The breaker's clock now, for an outcome recorded later as of this instant.
    var now: BreakerInstant { timeline.now() }

    /// Records `outcome` as of `instant` (not now): a stream judged by when the server answered, whose
    /// end comes much later. The slow-call rule measures from admission to `instant`.
    func record(_ outcome: CallOutcome, for permit: Permit, at instant: BreakerInstant) {
        let transition = state.withLock { state -> CircuitBreakerTransition? in
            guard let transition = state.machine.record(outcome, for: permit.inner, at: instant) else { return nil }
            publishLocked(transition, &state)
            return transition
        }
        if let transition { announce(transition) }
    }

    /// Records a call that ended with `code`, classified by the policy's classifier.
    public func record(_ code: Status.Code, for permit: Permit) {
        record(policy.classifier.classify(code), for: permit)
    }

    /// Records a call that threw `error`, classified by the policy's classifier.
    public func record(error: any Error, for permit: Permit) {
        record(policy.classifier.classify(error), for: permit)
    }

    /// Runs `operation` if the breaker admits it, and records its outcome.
    ///
    /// - Parameters:
    ///   - isolation: The actor `operation` and `fallback` run on; the caller's, by default.
    ///   - classify: Classifies errors `operation` throws; by default the policy's classifier
    ///     (`RPCError` by code, `CancellationError` neutral, anything else a failure).
    ///   - fallback: Produces the result when the breaker rejects the call; without it, the
    ///     ``CircuitBreakerRejection`` is thrown.
    ///   - operation: The protected call. Returning counts as a success.
    /// - Throws: What `operation` or `fallback` throws, or the rejection.
    public func run<T>(
        isolation: isolated (any Actor)? = #isolation,
        classifyingErrors classify: ((any Error) -> CallOutcome)? = nil,
        fallback: ((CircuitBreakerRejection) async throws -> T)? = nil,
        _ operation: () async throws -> T
    ) async throws -> T {
        let permit: Permit
        do {
            permit = try acquire()
        } catch {
            guard let fallback else { throw error }
            return try await fallback(error)
        }
        do {
            let value = try await operation()
            record(.success, for: permit)
            return value
        } catch {
            record(classify?(error) ?? policy.classifier.classify(error), for: permit)
            throw error
        }
    }

    // MARK: Operators

    /// Holds the breaker open, rejecting every call, until ``reset()``.
    public func forceOpen() {
        apply { $0.forceOpen() }
    }

    /// Switches the breaker off, admitting every call and counting nothing, until ``reset()``.
    public func disable() {
        apply { $0.disable() }
    }

    /// Returns the breaker to a fresh CLOSED state.
    public func reset() {
        apply { $0.reset() }
    }

    private func apply(_ body: (inout CircuitBreakerStateMachine<BreakerInstant>) -> CircuitBreakerTransition?) {
        let transition = state.withLock { state -> CircuitBreakerTransition? in
            let transition = body(&state.machine)
            // `reset` clears even without a transition; the generation may have moved.
            publish(state.machine.state, state.machine.generation)
            if let transition { state.subscribers.yield(.transition(key: key, transition)) }
            return transition
        }
        if let transition { announce(transition) }
    }

    // MARK: Observation

    /// The state and counts now.
    public func snapshot() -> CircuitBreakerSnapshot {
        let now = timeline.now()
        return state.withLock { $0.machine.snapshot(key: key, at: now) }
    }

    /// A stream of this breaker's transitions and rejections, in the order they happened, from now on.
    ///
    /// - Parameter limit: Events buffered for a slow reader; past it the oldest are dropped.
    public func events(bufferingNewest limit: Int = 64) -> AsyncStream<CircuitBreakerEvent> {
        EventSubscribers.stream(bufferingNewest: limit) { [weak self] body in
            self?.state.withLock { body(&$0.subscribers) }
        }
    }

    private func publishLocked(_ transition: CircuitBreakerTransition, _ state: inout State) {
        publish(transition.to, transition.generation)
        state.subscribers.yield(.transition(key: key, transition))
    }

    /// Stores the state word (under `state`'s lock, so changes are ordered) and keeps the registry's count
    /// of breakers that may reject.
    private func publish(_ new: CircuitState, _ generation: UInt64) {
        let old = published.exchange(Self.word(new, generation), ordering: .acquiringAndReleasing)
        guard let activity else { return }
        let wasAdmitting = Self.admitsAll(old & 7)
        let admits = Self.admitsAll(UInt64(new.rawValue))
        if wasAdmitting != admits { activity.change(by: admits ? -1 : 1) }
    }

    /// Whether a state word's state admits every call without a look at the lock (CLOSED, DISABLED).
    private static func admitsAll(_ state: UInt64) -> Bool {
        state == UInt64(CircuitState.closed.rawValue) || state == UInt64(CircuitState.disabled.rawValue)
    }

    /// The rejection `acquire()` would give now, recorded as that one would be (counted, logged, an event);
    /// `nil` when `acquire()` would admit the call or move the breaker (an OPEN breaker whose open duration
    /// is over): nothing changes then. A chain asks this before it builds a call, so that a rejected call
    /// costs no serialization and no asynchronous level; the call it lets through still asks `acquire()`.
    public func rejectionIfRejecting() -> CircuitBreakerRejection? {
        let word = published.load(ordering: .acquiring)
        if Self.admitsAll(word & 7) { return nil }
        let now = timeline.now()
        let rejection = state.withLock { state -> CircuitBreakerRejection? in
            guard case .rejected(let s, let retryAfter)? = state.machine.rejection(at: now) else { return nil }
            let rejection = CircuitBreakerRejection(key: key, state: s, retryAfter: retryAfter)
            state.subscribers.yield(.rejection(rejection))
            return rejection
        }
        guard let rejection else { return nil }
        announce(rejection)
        return rejection
    }

    /// Counts, logs and reports a rejection, outside the lock (its event was yielded under it).
    private func announce(_ rejection: CircuitBreakerRejection) {
        announceRejection(state: rejection.state, retryAfter: rejection.retryAfter)
    }

    /// The same from the rejection's fields: the rejection itself is made only when a log, an observer
    /// or the registry's subscribers take it.
    private func announceRejection(state: CircuitState, retryAfter: Duration?) {
        rejectionCounter.increment()
        logger.debug("call rejected", metadata: [
            "reason": "\(CircuitBreakerRejection(key: key, state: state, retryAfter: retryAfter).message)"
        ])
        let forwarded = registryEvents?.isListening ?? false
        guard observer != nil || forwarded else { return }
        let event = CircuitBreakerEvent.rejection(CircuitBreakerRejection(key: key, state: state, retryAfter: retryAfter))
        observer?(event)
        if forwarded { registryEvents?.forward(event) }
    }

    /// Logs, counts and reports a transition, outside the lock.
    private func announce(_ transition: CircuitBreakerTransition) {
        stateGauge.record(transition.to.rawValue)
        Counter(
            label: CircuitBreakerMetricNames.transitions,
            dimensions: [
                (CircuitBreakerMetricNames.Dimension.breaker, key.description),
                (CircuitBreakerMetricNames.Dimension.to, transition.to.name),
            ],
            factory: metricsFactory
        ).increment()
        logger.info(
            "circuit breaker state changed",
            metadata: [
                "from": "\(transition.from)", "to": "\(transition.to)",
                "reason": "\(transition.reason)", "generation": "\(transition.generation)",
            ]
        )
        observer?(.transition(key: key, transition))
        registryEvents?.forward(.transition(key: key, transition))
    }
}
