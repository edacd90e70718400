import BreakwaterCore

/// A client interceptor that bounds a whole call, all attempts included, by its method's timeout, and
/// applies the method's call options (``MethodPolicy/waitForReady`` and the message limits).
///
/// The effective deadline is `min(caller's deadline, now + policy timeout)`; it is set on the context
/// passed to `next`, so every attempt inside it shares it and the transport enforces it: it sends the
/// remaining time as `grpc-timeout` on each attempt, and when the deadline passes it resets the stream
/// and ends the call with `DEADLINE_EXCEEDED`, whatever the server does.
///
/// Place it outermost, before the retry interceptor, so that no retry outlives the deadline. Per-attempt
/// timeouts (``RetryPolicy/perAttemptTimeout``) are applied by ``RetryInterceptor``, which makes the
/// attempts.
public struct TimeoutInterceptor: ClientInterceptor {
    /// The policies; methods whose policy has no ``MethodPolicy/timeout`` keep the caller's deadline.
    public let policies: PolicyTable

    /// Creates an interceptor that takes each method's timeout from `policies`.
    public init(policies: PolicyTable) {
        self.policies = policies
    }

    /// Creates an interceptor that bounds every call it applies to by `timeout`.
    public init(timeout: Duration) {
        self.init(policies: PolicyTable(defaultPolicy: MethodPolicy(timeout: timeout)))
    }

    /// Moves the call's deadline to the policy's timeout when that is earlier; a call's
    /// ``BreakwaterCore/CallOptions/policyOverride`` replaces or removes that timeout.
    public func intercept(
        request: ClientRequest,
        context: ClientContext,
        next: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        let policy = policies.policy(for: context.descriptor)
        let override = try context.options.checkedPolicyOverride(for: context.descriptor)
        guard policy != nil || override != nil else {
            return try await next(request, context)
        }
        let timeout = override.map { $0.timeout(over: policy?.timeout) } ?? policy?.timeout
        var bounded = timeout.map { Self.bound(context, by: $0) } ?? context
        if let policy, policy.setsCallOptions { bounded.options = policy.applied(to: bounded.options) }
        return try await next(request, bounded)
    }

    /// `context` with its deadline moved to `now + timeout` when that is earlier.
    static func bound(_ context: ClientContext, by timeout: Duration) -> ClientContext {
        var bounded = context
        bounded.bound(byTimeout: timeout)
        return bounded
    }
}
