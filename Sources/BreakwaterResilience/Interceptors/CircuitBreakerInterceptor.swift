import BreakwaterCore

/// A client interceptor that puts a circuit breaker in front of every attempt of a call.
///
/// For each attempt it resolves the method's breaker in a ``CircuitBreakerRegistry`` (one per
/// target, service and method, or per target and service when the policy's scope says so) and asks it
/// for a permit:
///
/// - Rejected: the attempt ends at once with the rejection's `RPCError` (`UNAVAILABLE`, its cause a
///   ``CircuitBreakerRejection`` naming the breaker and the time until it probes); `next` is not called,
///   so no network I/O happens. With a ``fallback``, its response is returned instead.
/// - Admitted: `next` runs and the outcome is recorded: an error `next` throws is classified by the
///   policy's `OutcomeClassifier`; for a response, its body is wrapped so that the final status
///   (the OK trailers, or the `RPCError` the body throws) is recorded when the body ends. A body that is
///   dropped before its status is known counts as neutral, as does `DEADLINE_EXCEEDED` when the
///   attempt's deadline had already passed before it started.
///
/// Place it inside the retry interceptor, so that each attempt is one breaker sample and a rejection
/// is never retried (``ResilienceConfiguration`` does).
public struct CircuitBreakerInterceptor: ClientCallAdmission {
    /// Produces a response for a call the breaker rejected; return `nil` to fail the call with the
    /// rejection.
    public typealias Fallback = @Sendable (CircuitBreakerRejection, ClientContext) async throws -> ClientResponse?

    /// The policies; methods whose policy has no ``MethodPolicy/circuitBreaker`` pass through.
    public let policies: PolicyTable
    /// The target, part of every breaker's key (for example `host:port`).
    public let target: String
    /// Where the breakers live; share it to observe them (snapshots, events) or operate them.
    public let registry: CircuitBreakerRegistry
    /// Runs when the breaker rejects a call; `nil`: the call fails with the rejection.
    public let fallback: Fallback?

    /// Creates an interceptor that takes each method's breaker policy from `policies`.
    /// - Parameters:
    ///   - policies: The method policies; only their ``MethodPolicy/circuitBreaker`` is used.
    ///   - target: The target, part of every breaker's key.
    ///   - registry: The breakers; by default a new registry on `ContinuousClock`.
    ///   - fallback: Answers calls the breaker rejects; return `nil` to throw the rejection.
    public init(
        policies: PolicyTable,
        target: String,
        registry: CircuitBreakerRegistry = CircuitBreakerRegistry(),
        fallback: Fallback? = nil
    ) {
        self.policies = policies
        self.target = target
        self.registry = registry
        self.fallback = fallback
    }

    /// Creates an interceptor that gives every method it applies to a breaker with `policy`.
    public init(
        policy: CircuitBreakerPolicy,
        target: String,
        registry: CircuitBreakerRegistry = CircuitBreakerRegistry(),
        fallback: Fallback? = nil
    ) {
        self.init(
            policies: PolicyTable(defaultPolicy: MethodPolicy(circuitBreaker: policy)),
            target: target, registry: registry, fallback: fallback
        )
    }

    /// The breaker that guards `method`, or `nil` when its policy has none.
    /// - Throws: ``ConfigurationError`` when the method's breaker policy is invalid.
    public func breaker(for method: MethodDescriptor) throws(ConfigurationError) -> CircuitBreaker? {
        guard let policy = policies.policy(for: method)?.circuitBreaker else { return nil }
        do {
            return try registry.breaker(target: target, method: method, policy: policy)
        } catch {
            throw error.prefixed("circuitBreaker")
        }
    }

    /// The error that fails a call whose method has an invalid policy (the chain was put together
    /// without ``ResilienceConfiguration``, which checks every policy when it is created).
    static func invalidPolicy(_ error: ConfigurationError, for method: MethodDescriptor) -> RPCError {
        RPCError(code: .failedPrecondition, message: "invalid resilience policy for \(method.path): \(error)")
    }

    /// Rejects the call at once when its method's breaker would reject it and there is no fallback: the
    /// rejection the attempt would get, before the request is serialized.
    public func admit(_ context: ClientContext) throws(RPCError) {
        if let rejection = earlyRejection(context) { throw rejection.error }
    }

    /// The error ``admit(_:)`` would throw, already boxed: the client throws it without an allocation.
    public func admissionError(_ context: ClientContext) -> (any Error)? {
        earlyRejection(context)?.boxed
    }

    /// The error of the rejection the method's breaker would give the call now. A breaker rejection is
    /// never retried, hedged or answered by anything but a fallback, so failing the call here is what the
    /// chain would do.
    private func earlyRejection(_ context: ClientContext) -> CircuitBreaker.SharedRejectionError? {
        // A call with its own policy override (which may bypass the breaker) is left to `intercept`.
        guard registry.activity.anyMayReject, fallback == nil, !context.options.hasPolicyOverride else { return nil }
        return (try? breaker(for: context.descriptor))?.sharedRejectionErrorIfRejecting()
    }

    /// Admits the attempt through the method's breaker and records its outcome; an attempt whose
    /// ``BreakwaterCore/CallOptions/policyOverride`` bypasses the breaker passes through.
    public func intercept(
        request: ClientRequest,
        context: ClientContext,
        next: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        if let override = try context.options.checkedPolicyOverride(for: context.descriptor),
            override.bypassCircuitBreaker
        {
            return try await next(request, context)
        }
        let found: CircuitBreaker?
        do {
            found = try breaker(for: context.descriptor)
        } catch {
            throw Self.invalidPolicy(error, for: context.descriptor)
        }
        guard let breaker = found else {
            return try await next(request, context)
        }
        return try await Self.attempt(through: breaker, fallback: fallback, request: request, context: context, next: next)
    }

    /// One attempt through `breaker`: rejected (answered by `fallback` when it gives a response), or
    /// admitted, with the outcome recorded when the attempt fails or its response body ends.
    static func attempt(
        through breaker: CircuitBreaker,
        fallback: Fallback?,
        request: ClientRequest,
        context: ClientContext,
        next: (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        let admitted: AdmittedAttempt
        switch admission(of: context, through: breaker) {
        case .admitted(let attempt): admitted = attempt
        case .rejected(let rejection):
            return try await rejected(rejection, by: breaker, fallback: fallback, context: context)
        }
        do {
            return admitted.answered(try await next(request, admitted.isProbe ? probing(context) : context))
        } catch {
            admitted.failed(error)
            throw error
        }
    }

    /// What the breaker says to one attempt.
    enum Admission {
        case admitted(AdmittedAttempt)
        case rejected(CircuitBreakerRejection)
    }

    /// Asks `breaker` for a permit for the attempt of `context` and reports the answer to the call's
    /// observers. Synchronous, like ``AdmittedAttempt/answered(_:)`` and ``AdmittedAttempt/failed(_:)``:
    /// a chain calls `next` between them itself, so the breaker adds no asynchronous level to an attempt.
    /// `expiredAtStart`: whether the attempt's deadline had already passed, when the caller knows it from
    /// its own clock read (`nil`: read the clock here).
    static func admission(of context: ClientContext, through breaker: CircuitBreaker, expiredAtStart: Bool? = nil) -> Admission {
        let permit: CircuitBreaker.Permit
        do {
            permit = try breaker.acquire()
        } catch {
            context.report(.rejected(by: "circuit-breaker", reason: error.message))
            return .rejected(error)
        }
        context.report(.admitted(by: "circuit-breaker", detail: permit.isProbe ? "\(breaker.key): probe" : "\(breaker.key)"))
        return .admitted(AdmittedAttempt(
            breaker: breaker, permit: permit, kind: context.kind,
            expiredAtStart: expiredAtStart ?? context.deadline.map { $0 <= .now } ?? false))
    }

    /// The attempt of `context` as a probe. The probe's verdict reopens or closes the breaker for every
    /// caller: the transport sends it only over a connection that shows it is alive, and connects for it
    /// at once.
    static func probing(_ context: ClientContext) -> ClientContext {
        var probing = context
        probing.options.isProbe = true
        return probing
    }

    /// The end of an attempt `breaker` rejected (already reported by ``admission(of:through:)``): the
    /// fallback's response when it gives one, or else the rejection's `RPCError`, thrown.
    static func rejected(
        _ rejection: CircuitBreakerRejection, by breaker: CircuitBreaker, fallback: Fallback?, context: ClientContext
    ) async throws -> ClientResponse {
        if let fallback, let response = try await fallback(rejection, context) {
            return response
        }
        throw breaker.rejectionError(rejection)
    }

    /// An attempt the breaker admitted, until its outcome is recorded (send it to the attempt with
    /// ``CircuitBreakerInterceptor/probing(_:)``'s context when ``isProbe``).
    struct AdmittedAttempt {
        let breaker: CircuitBreaker
        let permit: CircuitBreaker.Permit
        let kind: CallKind
        /// Whether the attempt's deadline had passed before it started: its DEADLINE_EXCEEDED is then neutral.
        let expiredAtStart: Bool

        var isProbe: Bool { permit.isProbe }

        /// Records the outcome of an attempt that failed before its response headers.
        func failed(_ error: any Error) {
            breaker.record(outcome(of: error, breaker: breaker, expiredAtStart: expiredAtStart), for: permit)
        }

        /// The attempt's response, its body wrapped so that its outcome is recorded when it ends.
        func answered(_ response: ClientResponse) -> ClientResponse {
            var observed = response
            if kind == .serverStreaming || kind == .bidirectionalStreaming {
                // A response stream is judged by how the server answered, not by how long the caller keeps
                // it open (see `StreamOutcomeRecorder`). A probe's verdict is known now: record it, so that
                // a long-lived probe stream does not hold the probe slot for its whole life.
                let answeredAt = breaker.now
                if permit.isProbe {
                    breaker.record(.success, for: permit, at: answeredAt)
                    return response
                }
                observed.body = response.body.notifying(
                    StreamOutcomeRecorder(breaker: breaker, permit: permit, answeredAt: answeredAt))
                return observed
            }
            if let compact = CompactOutcomeRecorder(breaker: breaker, permit: permit, expiredAtStart: expiredAtStart) {
                observed.body = response.body.notifying(compact)
            } else {
                observed.body = response.body.notifying(
                    OutcomeRecorder(breaker: breaker, permit: permit, expiredAtStart: expiredAtStart))
            }
            return observed
        }
    }

    /// Records a response stream's outcome as of when the server answered (its headers): the slow-call
    /// rule measures the time to that answer, and a stream that the caller's own deadline or cancel ends
    /// after the answer is neutral (a Watch that runs until its deadline is healthy). A failure status
    /// the server sends later (UNAVAILABLE, INTERNAL, ...) still counts as a failure.
    private struct StreamOutcomeRecorder: ClientResponseObserver {
        let breaker: CircuitBreaker
        let permit: CircuitBreaker.Permit
        let answeredAt: BreakerInstant

        func responseEnded(_ end: ClientResponseEnd) {
            let outcome: CallOutcome
            switch end {
            case .trailers:
                outcome = .success
            case .error(let error):
                if let rpc = error as? RPCError, rpc.code == .deadlineExceeded || rpc.code == .cancelled {
                    outcome = .neutral
                } else {
                    outcome = breaker.policy.classifier.classify(error)
                }
            case .abandoned:
                outcome = .neutral
            }
            breaker.record(outcome, for: permit, at: answeredAt)
        }
    }

    /// Records the attempt's final status in its breaker when the response body ends.
    private struct OutcomeRecorder: ClientResponseObserver {
        let breaker: CircuitBreaker
        let permit: CircuitBreaker.Permit
        let expiredAtStart: Bool

        func responseEnded(_ end: ClientResponseEnd) {
            record(end, in: breaker, for: permit, expiredAtStart: expiredAtStart)
        }
    }

    /// The same for a permit that is not a probe (every permit in CLOSED), packed into 24 bytes so that
    /// it sits inline in the observer existential: recording a CLOSED call's outcome allocates nothing.
    private struct CompactOutcomeRecorder: ClientResponseObserver {
        let breaker: CircuitBreaker
        let permit: PackedPermit

        /// `nil` for a probe, or a permit whose fields do not fit.
        init?(breaker: CircuitBreaker, permit: CircuitBreaker.Permit, expiredAtStart: Bool) {
            guard let packed = PackedPermit(permit, expiredAtStart: expiredAtStart) else { return nil }
            self.breaker = breaker
            self.permit = packed
        }

        func responseEnded(_ end: ClientResponseEnd) {
            record(end, in: breaker, for: permit.permit, expiredAtStart: permit.expiredAtStart)
        }
    }
}

/// Records how an admitted attempt's response ended.
func record(_ end: ClientResponseEnd, in breaker: CircuitBreaker, for permit: CircuitBreaker.Permit, expiredAtStart: Bool) {
    switch end {
    case .trailers: breaker.record(.success, for: permit)
    case .error(let error):
        breaker.record(outcome(of: error, breaker: breaker, expiredAtStart: expiredAtStart), for: permit)
    case .abandoned: breaker.record(.neutral, for: permit)
    }
}

/// How an attempt that ended with `error` counts: by the breaker's classifier, except that
/// `DEADLINE_EXCEEDED` is neutral when the deadline had passed before the attempt started.
private func outcome(of error: any Error, breaker: CircuitBreaker, expiredAtStart: Bool) -> CallOutcome {
    if expiredAtStart, let rpc = error as? RPCError, rpc.code == .deadlineExceeded { return .neutral }
    return breaker.policy.classifier.classify(error)
}
