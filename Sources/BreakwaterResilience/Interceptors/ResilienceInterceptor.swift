@_spi(Locking) import BreakwaterCore

/// The standard chain, Timeout, then Retry (or Hedging), then CircuitBreaker per attempt, as one
/// interceptor.
///
/// It behaves exactly as ``TimeoutInterceptor``, ``RetryInterceptor`` and ``CircuitBreakerInterceptor``
/// composed in that order (it runs their code), but costs one interceptor level instead of three, and
/// resolves a method's policies and breaker once: the first call of a method looks them up in the
/// ``PolicyTable`` and the ``CircuitBreakerRegistry``; later calls find them in a per-method cache.
/// ``ResilienceConfiguration/interceptors`` uses it.
public struct ResilienceInterceptor: ClientCallAdmission, ClientFirstAttemptInterceptor {
    /// The stages behind one reference, so that passing the interceptor around costs one retain.
    private let stages: Stages

    /// The timeout stage.
    public var timeout: TimeoutInterceptor { stages.timeout }
    /// The retry stage.
    public var retry: RetryInterceptor { stages.retry }
    /// The circuit breaker stage, applied to every attempt.
    public var circuitBreaker: CircuitBreakerInterceptor { stages.circuitBreaker }
    /// The hedging stage, in place of retry for methods with a ``MethodPolicy/hedging`` policy; every
    /// hedge goes through the breaker as an attempt of its own.
    public var hedging: HedgingInterceptor { stages.hedging }

    /// Creates the chain from its stages; their policy tables may differ.
    /// - Parameters:
    ///   - timeout: The timeout stage, outermost.
    ///   - retry: The retry stage.
    ///   - circuitBreaker: The breaker stage, applied to every attempt.
    ///   - hedging: The hedging stage; by default one on `retry`'s policies, throttle and events, whose
    ///     delays are slept on `ContinuousClock`.
    public init(
        timeout: TimeoutInterceptor, retry: RetryInterceptor, circuitBreaker: CircuitBreakerInterceptor,
        hedging: HedgingInterceptor? = nil
    ) {
        stages = Stages(
            timeout: timeout, retry: retry, circuitBreaker: circuitBreaker,
            hedging: hedging ?? HedgingInterceptor(policies: retry.policies, throttle: retry.throttle, events: retry.events))
    }

    /// Rejects the call at once when its method's breaker would reject its first attempt and no fallback
    /// could answer: the same rejection (counted, logged, an event) the chain would give, before the
    /// request is serialized. While no breaker of the registry may reject, this is one atomic load.
    public func admit(_ context: ClientContext) throws(RPCError) {
        if let rejection = earlyRejection(context) { throw rejection.error }
    }

    /// The error ``admit(_:)`` would throw, already boxed (one box per breaker state and tenth of a second
    /// before its probe, see ``CircuitBreaker/rejectionError(_:)``): the client throws it without an
    /// allocation.
    public func admissionError(_ context: ClientContext) -> (any Error)? {
        earlyRejection(context)?.boxed
    }

    private func earlyRejection(_ context: ClientContext) -> CircuitBreaker.SharedRejectionError? {
        let stages = self.stages
        // A call with its own policy override (which may bypass the breaker, or be invalid) is left to the chain.
        guard stages.circuitBreaker.registry.activity.anyMayReject, stages.circuitBreaker.fallback == nil,
            !context.options.hasPolicyOverride
        else { return nil }
        return stages.breaker(for: context.descriptor)?.sharedRejectionErrorIfRejecting()
    }

    /// Prepares the common call for the client to make its first attempt itself: bounds the deadline by
    /// the method's timeout, applies its call options and takes its breaker's permit (a rejection is
    /// thrown: it is never retried). Only a first attempt that fails enters the retry loop. Calls with
    /// hedging, a per-attempt timeout, a fallback or their own policy override get `nil`, and
    /// ``intercept(request:context:next:)``.
    public func prepareFirstAttempt(_ context: inout ClientContext) throws -> (any ClientFirstAttempt)? {
        let stages = self.stages
        let plan = try stages.plan(for: context.descriptor)
        guard plan.hedging == nil, plan.retry?.perAttemptTimeout == nil, stages.circuitBreaker.fallback == nil,
            !context.options.hasPolicyOverride
        else { return nil }
        // Whether the deadline had passed before the attempt (then its DEADLINE_EXCEEDED is neutral to the
        // breaker), from the clock read that bounded the call; `nil`: the admission reads the clock.
        var expiredAtStart: Bool?
        if let timeout = plan.timeout { expiredAtStart = context.bound(byTimeout: timeout) }
        if let callOptions = plan.callOptions { context.options = callOptions.applied(to: context.options) }
        guard let breaker = plan.breaker else { return UnguardedFirstAttempt(plan: plan) }
        switch CircuitBreakerInterceptor.admission(of: context, through: breaker, expiredAtStart: expiredAtStart) {
        case .rejected(let rejection):
            throw breaker.rejectionError(rejection)
        case .admitted(let admitted):
            if let permit = PackedPermit(admitted.permit, expiredAtStart: admitted.expiredAtStart) {
                return AdmittedFirstAttempt(plan: plan, permit: permit)
            }
            let probe = ProbeFirstAttempt(plan: plan, admitted: admitted, callerIsProbe: context.options.isProbe)
            context.options.isProbe = true
            return probe
        }
    }

    /// Bounds the call by its timeout, then runs its attempts, each through its breaker. The first attempt
    /// is made directly; the retry loop starts only when it fails.
    public func intercept(
        request: ClientRequest,
        context: ClientContext,
        next: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        var bounded = context
        if let attempt = try prepareFirstAttempt(&bounded) {
            let response: ClientResponse
            do {
                response = try await next(request, bounded)
            } catch {
                return try await attempt.failed(error, request: request, context: bounded, next: next)
            }
            return attempt.answered(consume response, context: bounded)
        }
        let stages = self.stages
        var plan = try stages.plan(for: context.descriptor)
        // A call's own override (CallOptions.policyOverride) changes the cached plan for this call only.
        if let override = try context.options.checkedPolicyOverride(for: context.descriptor) {
            plan = plan.overridden(by: override)
        }
        if let timeout = plan.timeout { bounded.bound(byTimeout: timeout) }
        if let callOptions = plan.callOptions { bounded.options = callOptions.applied(to: bounded.options) }
        let fallback = stages.circuitBreaker.fallback
        if let hedging = plan.hedging {
            return try await stages.hedging.attempts(request: request, context: bounded, policy: hedging) {
                [breaker = plan.breaker] request, context, isHedge in
                guard let breaker else { return try await next(request, context) }
                // A hedge the breaker rejects only stops further hedges; the fallback answers for the call
                // only when its first attempt is rejected.
                return try await CircuitBreakerInterceptor.attempt(
                    through: breaker, fallback: isHedge ? nil : fallback, request: request, context: context, next: next)
            }
        }
        let response: ClientResponse
        do {
            response = try await plan.attempt(
                request: request, context: RetryInterceptor.attemptContext(bounded, policy: plan.retry),
                fallback: fallback, next: next)
        } catch {
            return try await plan.attempts(after: error, request: request, context: bounded, fallback: fallback, next: next)
        }
        return plan.committed(response)
    }
}

/// What the chain applies to one method, resolved once (and changed for one call by its override).
/// A class: the cached plan is handed to every call of the method, and a reference costs one retain
/// where a copy of these fields costs one each, through runtime witnesses when a lock returns it.
final class MethodPlan: Sendable {
    let timeout: Duration?
    let retry: RetryPolicy?
    let hedging: HedgingPolicy?
    let breaker: CircuitBreaker?
    /// The policy when it changes call options (wait-for-ready, message limits); `nil` mostly.
    let callOptions: MethodPolicy?
    /// The breaker and the throttle a committed first attempt reports to, when the method has both.
    let sinks: AttemptOutcomeSinks?
    /// The chain's retry stage, which makes the attempts after a failed first one: here, so that a first
    /// attempt the client makes (``AdmittedFirstAttempt``) needs only the plan.
    let retryStage: RetryInterceptor

    init(
        timeout: Duration?, retry: RetryPolicy?, hedging: HedgingPolicy?, breaker: CircuitBreaker?,
        callOptions: MethodPolicy?, sinks: AttemptOutcomeSinks? = nil, retryStage: RetryInterceptor
    ) {
        self.retryStage = retryStage
        self.timeout = timeout
        self.retry = retry
        self.hedging = hedging
        self.breaker = breaker
        self.callOptions = callOptions
        self.sinks = sinks
    }

    /// The plan of one call with `override`: the same breaker, or none when the override bypasses it.
    func overridden(by override: MethodPolicyOverride) -> MethodPlan {
        MethodPlan(
            timeout: override.timeout(over: timeout), retry: override.retry(over: retry),
            hedging: override.hedging(over: hedging), breaker: override.bypassCircuitBreaker ? nil : breaker,
            callOptions: callOptions,
            sinks: nil,  // the retry policy may differ: the general path reports this call
            retryStage: retryStage)
    }

    /// One attempt, through the breaker when the method has one (answered by `fallback` when it rejects).
    func attempt(
        request: ClientRequest, context: ClientContext, fallback: CircuitBreakerInterceptor.Fallback?,
        next: (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        guard let breaker else { return try await next(request, context) }
        return try await CircuitBreakerInterceptor.attempt(
            through: breaker, fallback: fallback, request: request, context: context, next: next)
    }

    /// The call after its first attempt failed with `failure`: retried under the plan's policy, each
    /// attempt through the breaker, or the failure thrown. `context` is the call's.
    func attempts(
        after failure: any Error, request: ClientRequest, context: ClientContext,
        fallback: CircuitBreakerInterceptor.Fallback?,
        next: (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        try await retryStage.attempts(after: failure, request: request, context: context, policy: retry) {
            request, context in
            try await attempt(request: request, context: context, fallback: fallback, next: next)
        }
    }

    /// The response of the call's committed attempt, its end fed to the retry throttle.
    func committed(_ response: ClientResponse) -> ClientResponse {
        retryStage.committed(response, policy: retry)
    }
}

/// The per-method plans, and the plan of the method asked for last.
private struct Plans {
    var byMethod: [MethodDescriptor: MethodPlan] = [:]
    /// A client mostly calls one method again and again, and an OPEN breaker's rejections come at that
    /// rate: compared with the descriptor's strings (equal at once when they are the same strings, as a
    /// generated client's are), this spares `admit` and `intercept` the hashing of both strings.
    /// Two fields, not an optional pair: comparing through `Optional<(method, plan)>` copied the pair out
    /// first, retaining both strings and the plan and releasing them again, on every call.
    var lastMethod = MethodDescriptor(service: "", method: "")
    var lastPlan: MethodPlan?

    /// The cached plan of `method`, made the last one.
    mutating func plan(for method: MethodDescriptor) -> MethodPlan? {
        if let lastPlan, lastMethod.method == method.method, lastMethod.service == method.service { return lastPlan }
        guard let plan = byMethod[method] else { return nil }
        lastMethod = method
        lastPlan = plan
        return plan
    }
}

/// The stages and the per-method plans resolved from them (under a `Mutex`). Breakers are never
/// removed from a registry, so a cached breaker stays the registry's.
private final class Stages: Sendable {
    let timeout: TimeoutInterceptor
    let retry: RetryInterceptor
    let circuitBreaker: CircuitBreakerInterceptor
    let hedging: HedgingInterceptor
    private let plans = TSanMutex(Plans())

    init(
        timeout: TimeoutInterceptor, retry: RetryInterceptor, circuitBreaker: CircuitBreakerInterceptor,
        hedging: HedgingInterceptor
    ) {
        self.timeout = timeout
        self.retry = retry
        self.circuitBreaker = circuitBreaker
        self.hedging = hedging
    }

    /// The method's breaker, `nil` when it has none or its policy is invalid: from the cached plan without
    /// a copy of the rest of it (policies, options), which is all `admit` needs.
    func breaker(for method: MethodDescriptor) -> CircuitBreaker? {
        let cached = plans.withLock { plans -> CircuitBreaker?? in plans.plan(for: method).map { $0.breaker } }
        if let cached { return cached }
        return (try? plan(for: method))?.breaker
    }

    /// The method's plan; an invalid policy fails the call (FAILED_PRECONDITION, naming the field).
    func plan(for method: MethodDescriptor) throws(RPCError) -> MethodPlan {
        if let plan = plans.withLock({ $0.plan(for: method) }) { return plan }
        let timeoutPolicy = timeout.policies.policy(for: method)
        let policy = MethodPolicy(
            timeout: timeoutPolicy?.timeout,
            retry: retry.policies.policy(for: method)?.retry,
            waitForReady: timeoutPolicy?.waitForReady,
            maxRequestMessageBytes: timeoutPolicy?.maxRequestMessageBytes,
            maxResponseMessageBytes: timeoutPolicy?.maxResponseMessageBytes,
            hedging: hedging.policies.policy(for: method)?.hedging
        )
        let breaker: CircuitBreaker?
        do {
            try policy.validate()
            breaker = try circuitBreaker.breaker(for: method)
        } catch {
            throw CircuitBreakerInterceptor.invalidPolicy(error, for: method)
        }
        var sinks: AttemptOutcomeSinks?
        if let breaker, let throttle = retry.throttle, let retryPolicy = policy.retry {
            sinks = AttemptOutcomeSinks(breaker: breaker, throttle: throttle, retryable: retryPolicy.retryableStatusCodes)
        }
        let plan = MethodPlan(
            timeout: policy.timeout, retry: policy.retry, hedging: policy.hedging, breaker: breaker,
            callOptions: policy.setsCallOptions ? policy : nil, sinks: sinks, retryStage: retry)
        plans.withLock { $0.byMethod[method] = $0.byMethod[method] ?? plan }
        return plan
    }
}
