@_spi(Locking) import BreakwaterCore

/// The standard chain, Timeout, then Retry, then CircuitBreaker per attempt, as one interceptor.
///
/// It behaves exactly as ``TimeoutInterceptor``, ``RetryInterceptor`` and ``CircuitBreakerInterceptor``
/// composed in that order (it runs their code), but costs one interceptor level instead of three, and
/// resolves a method's policies and breaker once: the first call of a method looks them up in the
/// ``PolicyTable`` and the ``CircuitBreakerRegistry``; later calls find them in a per-method cache.
/// ``ResilienceConfiguration/interceptors`` uses it.
public struct ResilienceInterceptor: ClientInterceptor {
    /// The stages behind one reference, so that passing the interceptor around costs one retain.
    private let stages: Stages

    /// The timeout stage.
    public var timeout: TimeoutInterceptor { stages.timeout }
    /// The retry stage.
    public var retry: RetryInterceptor { stages.retry }
    /// The circuit breaker stage, applied to every attempt.
    public var circuitBreaker: CircuitBreakerInterceptor { stages.circuitBreaker }

    /// Creates the chain from its three stages; their policy tables may differ.
    public init(timeout: TimeoutInterceptor, retry: RetryInterceptor, circuitBreaker: CircuitBreakerInterceptor) {
        stages = Stages(timeout: timeout, retry: retry, circuitBreaker: circuitBreaker)
    }

    /// Bounds the call by its timeout, then runs its attempts, each through its breaker.
    public func intercept(
        request: ClientRequest,
        context: ClientContext,
        next: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        let stages = self.stages
        let plan = try stages.plan(for: context.descriptor)
        var bounded = plan.timeout.map { TimeoutInterceptor.bound(context, by: $0) } ?? context
        if let callOptions = plan.callOptions { bounded.options = callOptions.applied(to: bounded.options) }
        guard let breaker = plan.breaker else {
            return try await stages.retry.attempts(request: request, context: bounded, policy: plan.retry, next: next)
        }
        let fallback = stages.circuitBreaker.fallback
        return try await stages.retry.attempts(request: request, context: bounded, policy: plan.retry) { request, context in
            try await CircuitBreakerInterceptor.attempt(
                through: breaker, fallback: fallback, request: request, context: context, next: next)
        }
    }
}

/// What the chain applies to one method, resolved once.
struct MethodPlan: Sendable {
    let timeout: Duration?
    let retry: RetryPolicy?
    let breaker: CircuitBreaker?
    /// The policy when it changes call options (wait-for-ready, message limits); `nil` mostly.
    let callOptions: MethodPolicy?
}

/// The three stages and the per-method plans resolved from them (under a `Mutex`). Breakers are never
/// removed from a registry, so a cached breaker stays the registry's.
private final class Stages: Sendable {
    let timeout: TimeoutInterceptor
    let retry: RetryInterceptor
    let circuitBreaker: CircuitBreakerInterceptor
    private let plans = TSanMutex<[MethodDescriptor: MethodPlan]>([:])

    init(timeout: TimeoutInterceptor, retry: RetryInterceptor, circuitBreaker: CircuitBreakerInterceptor) {
        self.timeout = timeout
        self.retry = retry
        self.circuitBreaker = circuitBreaker
    }

    /// The method's plan; an invalid policy fails the call (FAILED_PRECONDITION, naming the field).
    func plan(for method: MethodDescriptor) throws(RPCError) -> MethodPlan {
        if let plan = plans.withLock({ $0[method] }) { return plan }
        let timeoutPolicy = timeout.policies.policy(for: method)
        let policy = MethodPolicy(
            timeout: timeoutPolicy?.timeout,
            retry: retry.policies.policy(for: method)?.retry,
            waitForReady: timeoutPolicy?.waitForReady,
            maxRequestMessageBytes: timeoutPolicy?.maxRequestMessageBytes,
            maxResponseMessageBytes: timeoutPolicy?.maxResponseMessageBytes
        )
        let breaker: CircuitBreaker?
        do {
            try policy.validate()
            breaker = try circuitBreaker.breaker(for: method)
        } catch {
            throw CircuitBreakerInterceptor.invalidPolicy(error, for: method)
        }
        let plan = MethodPlan(
            timeout: policy.timeout, retry: policy.retry, breaker: breaker, callOptions: policy.setsCallOptions ? policy : nil)
        plans.withLock { $0[method] = $0[method] ?? plan }
        return plan
    }
}
