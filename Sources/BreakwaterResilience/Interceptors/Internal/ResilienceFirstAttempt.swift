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

    func answered(_ response: consuming ClientResponse, context: ClientContext) -> ClientResponse {
        // The common case: one observer, holding the permit as it is packed, tells the breaker and the
        // throttle how the attempt ended (no unpacking into an `AdmittedAttempt` and packing again).
        if context.kind == .unary || context.kind == .clientStreaming, let sinks = plan.sinks, sinks.breaker === plan.breaker {
            response.body = response.body.notifying(CommittedAttemptRecorder(sinks: sinks, permit: permit))
            return response
        }
        guard let breaker = plan.breaker else { return plan.committed(response) }  // made only with one
        return plan.committed(admitted(context.kind, breaker: breaker).answered(response))
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

    func answered(_ response: consuming ClientResponse, context: ClientContext) -> ClientResponse {
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

    func answered(_ response: consuming ClientResponse, context: ClientContext) -> ClientResponse {
        plan.committed(response)
    }

    func failed(
        _ error: any Error, request: ClientRequest, context: ClientContext,
        next: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        try await plan.attempts(after: error, request: request, context: context, fallback: nil, next: next)
    }
}
