import BreakwaterCore

// The first attempts `ResilienceInterceptor.prepareFirstAttempt` hands the client: what each must record
// when the attempt ends, and the retry loop a failed one enters.

/// A first attempt its method's breaker admitted in CLOSED (a permit that packs): 24 bytes, inline in the
/// `any ClientFirstAttempt` the client keeps, so the attempt allocates nothing.
struct AdmittedFirstAttempt: ClientFirstAttempt {
    /// The method's plan; its breaker admitted the attempt.
    let plan: MethodPlan
    let permit: PackedPermit

    private func admitted(_ kind: CallKind, breaker: CircuitBreaker) -> CircuitBreakerInterceptor.AdmittedAttempt {
        CircuitBreakerInterceptor.AdmittedAttempt(
            breaker: breaker, permit: permit.permit, kind: kind, expiredAtStart: permit.expiredAtStart)
    }

    func answered(_ response: ClientResponse, context: ClientContext) -> ClientResponse {
        guard let breaker = plan.breaker else { return plan.committed(response) }  // made only with one
        let admitted = admitted(context.kind, breaker: breaker)
        // One observer tells the breaker and the throttle how the attempt ended, where it can.
        if let sinks = plan.sinks, let observed = admitted.answered(response, reportingTo: sinks) { return observed }
        return plan.committed(admitted.answered(response))
    }

    func failed(
        _ error: any Error, request: ClientRequest, context: ClientContext,
        next: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        if let breaker = plan.breaker { admitted(context.kind, breaker: breaker).failed(error) }
        return try await plan.attempts(after: error, request: request, context: context, fallback: nil, next: next)
    }
}

/// A first attempt its breaker admitted as the half-open probe: sent as a probe; the retries after it are
/// not (each asks the breaker again).
struct ProbeFirstAttempt: ClientFirstAttempt {
    let plan: MethodPlan
    let admitted: CircuitBreakerInterceptor.AdmittedAttempt
    /// The caller's `CallOptions.isProbe`, for the context of later attempts.
    let callerIsProbe: Bool?

    func answered(_ response: ClientResponse, context: ClientContext) -> ClientResponse {
        plan.committed(admitted.answered(response))
    }

    func failed(
        _ error: any Error, request: ClientRequest, context: ClientContext,
        next: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        admitted.failed(error)
        var callContext = context
        callContext.options.isProbe = callerIsProbe
        return try await plan.attempts(after: error, request: request, context: callContext, fallback: nil, next: next)
    }
}

/// A first attempt of a method without a breaker.
struct UnguardedFirstAttempt: ClientFirstAttempt {
    let plan: MethodPlan

    func answered(_ response: ClientResponse, context: ClientContext) -> ClientResponse {
        plan.committed(response)
    }

    func failed(
        _ error: any Error, request: ClientRequest, context: ClientContext,
        next: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        try await plan.attempts(after: error, request: request, context: context, fallback: nil, next: next)
    }
}
