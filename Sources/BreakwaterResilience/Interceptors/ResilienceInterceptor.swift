@_spi(Locking) import BreakwaterCore

/// The standard chain, Timeout, then Retry (or Hedging), then CircuitBreaker per attempt, as one
/// interceptor.
///
/// It behaves exactly as ``TimeoutInterceptor``, ``RetryInterceptor`` and ``CircuitBreakerInterceptor``
/// composed in that order (it runs their code), but costs one interceptor level instead of three, and
/// resolves a method's policies and breaker once: the first call of a method looks them up in the
/// ``PolicyTable`` and the ``CircuitBreakerRegistry``; later calls find them in a per-method cache.
/// ``ResilienceConfiguration/interceptors`` uses it.
public struct ResilienceInterceptor: ClientCallAdmission {
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

    /// Bounds the call by its timeout, then runs its attempts, each through its breaker. The first attempt
    /// is made directly; the retry loop starts only when it fails.
    public func intercept(
        request: ClientRequest,
        context: ClientContext,
        next: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        let stages = self.stages
        var plan = try stages.plan(for: context.descriptor)
        // A call's own override (CallOptions.policyOverride) changes the cached plan for this call only;
        // without one this is a single check that the options carry no extensions.
        if let override = try context.options.checkedPolicyOverride(for: context.descriptor) {
            plan = plan.overridden(by: override)
        }
        var bounded = context
        // Whether the deadline had passed before the first attempt (then its DEADLINE_EXCEEDED is neutral to
        // the breaker), from the clock read that bounded the call; `nil`: the admission reads the clock.
        var expiredAtStart: Bool?
        if let timeout = plan.timeout { expiredAtStart = bounded.bound(byTimeout: timeout) }
        if let callOptions = plan.callOptions { bounded.options = callOptions.applied(to: bounded.options) }
        if let hedging = plan.hedging {
            return try await stages.hedging.attempts(request: request, context: bounded, policy: hedging) {
                [breaker = plan.breaker, fallback = stages.circuitBreaker.fallback] request, context, isHedge in
                guard let breaker else { return try await next(request, context) }
                // A hedge the breaker rejects only stops further hedges; the fallback answers for the call
                // only when its first attempt is rejected.
                return try await CircuitBreakerInterceptor.attempt(
                    through: breaker, fallback: isHedge ? nil : fallback, request: request, context: context, next: next)
            }
        }
        // The first attempt is made here, the breaker's admission and its record plain calls around `next`:
        // a call that succeeds at once runs no retry machinery and no asynchronous level of the breaker's
        // or the retry's. Only a failed first attempt enters the retry loop, which makes any later one.
        // The policy is read from the plan where it is used, not copied out of it first: a copy of a
        // `RetryPolicy` retains its code set and the copy is released again, for a first attempt that
        // succeeds and never needs the policy (the recorder has the retryable codes).
        // `bounded` is the first attempt's context too (a copy of a context costs retains and a 200-byte
        // copy): only with a per-attempt timeout is the call's context kept aside for the retry loop. (Not
        // its deadline alone: a `ContinuousClock.Instant` kept across an await costs a task allocation.)
        var callContext: ClientContext?
        if plan.retry?.perAttemptTimeout != nil {
            callContext = bounded
            bounded = RetryInterceptor.attemptContext(bounded, policy: plan.retry)
            expiredAtStart = nil
        }
        let failure: any Error
        if let breaker = plan.breaker {
            switch CircuitBreakerInterceptor.admission(of: bounded, through: breaker, expiredAtStart: expiredAtStart) {
            case .admitted(let admitted):
                do {
                    let response: ClientResponse
                    if admitted.isProbe {
                        response = try await next(request, CircuitBreakerInterceptor.probing(bounded))
                    } else {
                        response = try await next(request, bounded)
                    }
                    // One observer tells the breaker and the throttle how the attempt ended, where it can.
                    if let sinks = plan.sinks, let observed = admitted.answered(response, reportingTo: sinks) {
                        return observed
                    }
                    return stages.retry.committed(admitted.answered(response), policy: plan.retry)
                } catch {
                    admitted.failed(error)
                    failure = error
                }
            case .rejected(let rejection):
                do {
                    let response = try await CircuitBreakerInterceptor.rejected(
                        rejection, by: breaker, fallback: stages.circuitBreaker.fallback, context: bounded)
                    return stages.retry.committed(response, policy: plan.retry)
                } catch {
                    failure = error
                }
            }
        } else {
            do {
                return stages.retry.committed(try await next(request, bounded), policy: plan.retry)
            } catch {
                failure = error
            }
        }
        if let callContext { bounded = callContext }
        let fallback = stages.circuitBreaker.fallback
        return try await stages.retry.attempts(after: failure, request: request, context: bounded, policy: plan.retry) {
            [breaker = plan.breaker] request, context in
            guard let breaker else { return try await next(request, context) }
            return try await CircuitBreakerInterceptor.attempt(
                through: breaker, fallback: fallback, request: request, context: context, next: next)
        }
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

    init(
        timeout: Duration?, retry: RetryPolicy?, hedging: HedgingPolicy?, breaker: CircuitBreaker?,
        callOptions: MethodPolicy?, sinks: AttemptOutcomeSinks? = nil
    ) {
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
            sinks: nil)  // the retry policy may differ: the general path reports this call
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
            callOptions: policy.setsCallOptions ? policy : nil, sinks: sinks)
        plans.withLock { $0.byMethod[method] = $0.byMethod[method] ?? plan }
        return plan
    }
}
