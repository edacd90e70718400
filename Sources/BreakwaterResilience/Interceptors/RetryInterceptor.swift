import BreakwaterCore
import Logging

/// A client interceptor that retries failed attempts as gRFC A6 says.
///
/// For a method whose policy has a ``MethodPolicy/retry`` policy:
///
/// - An attempt that fails before response headers with a retryable status is retried, up to
///   ``RetryPolicy/maxAttempts`` attempts in all, after a full-jitter exponential backoff slept on the
///   injected clock (cancellable), or after the server's `grpc-retry-pushback-ms` delay. A negative or
///   unparseable pushback stops retrying.
/// - Later attempts carry `grpc-previous-rpc-attempts`.
/// - The call is committed, and never retried again, once `next` returned a response (response headers
///   arrived: the body is passed through) or once the request's retry buffer overflowed
///   (`request.messages.isCommitted`).
/// - The target's ``RetryThrottle``, shared by every call of the target, stops retries while too many
///   attempts fail.
/// - A circuit breaker's rejection is never retried, and no backoff is slept that would end at or past
///   the call's deadline: the call then ends with the last error (or `DEADLINE_EXCEEDED` when the
///   deadline has passed).
/// - With ``RetryPolicy/perAttemptTimeout``, each attempt gets the deadline
///   `min(call deadline, now + perAttemptTimeout)`.
///
/// Whatever the policy, an attempt whose stream never reached the server over a connection that existed
/// (REFUSED_STREAM, above a GOAWAY's last stream, a connection lost before the stream was written; the
/// transport says so) is retried once, transparently: at once, without counting against `maxAttempts`.
/// A connect failure is not: one attempt of the policy is then exactly one network attempt and one
/// breaker sample.
///
/// Every retry, transparent or not, is a debug line on ``logger`` (with the method, attempt, reason,
/// status and backoff), a `ClientRetry` on ``events`` and a `ClientCallEvent.retry` for the
/// call's observers (the metrics and tracing interceptors of BreakwaterObservability count them), and
/// the attempt it makes has its number and reason in its context's `ClientContext.attempt` (the
/// tracing interceptor's attempt spans carry them).
public struct RetryInterceptor: ClientInterceptor {
    /// The metadata key that tells the server how many attempts came before this one.
    public static let previousAttemptsKey = "grpc-previous-rpc-attempts"

    /// The policies; methods whose policy has no ``MethodPolicy/retry`` get only the transparent retry.
    public let policies: PolicyTable
    /// The target's retry throttle, shared by all its calls; `nil`: no throttling.
    public let throttle: RetryThrottle?
    private let clock: InterceptorClock
    private let random: @Sendable () -> Double
    /// Where each retry, transparent or not, is a debug line with its method, attempt and reason.
    public let logger: Logger
    /// Where each retry is published; `nil`: nowhere.
    public let events: RetryEvents?

    /// Creates an interceptor.
    /// - Parameters:
    ///   - policies: The method policies; only their ``MethodPolicy/retry`` is used.
    ///   - throttle: The target's throttle; share one instance among all clients of a target.
    ///   - clock: The clock backoffs sleep on and elapsed time is read from; a manual clock in tests.
    ///   - random: Numbers in [0, 1] for the backoff's full jitter.
    ///   - logger: Where each retry is a debug line (label `breakwater.retry` by default).
    ///   - events: Where each retry is published; `nil`: nowhere.
    public init(
        policies: PolicyTable,
        throttle: RetryThrottle? = nil,
        clock: some Clock<Duration> = ContinuousClock(),
        random: @escaping @Sendable () -> Double = { Double.random(in: 0...1) },
        logger: Logger = Logger(label: "breakwater.retry"),
        events: RetryEvents? = nil
    ) {
        self.policies = policies
        self.throttle = throttle
        self.clock = InterceptorClock(clock)
        self.random = random
        self.logger = logger
        self.events = events
    }

    /// Creates an interceptor that retries every method it applies to with `policy`.
    public init(
        policy: RetryPolicy,
        throttle: RetryThrottle? = nil,
        clock: some Clock<Duration> = ContinuousClock(),
        random: @escaping @Sendable () -> Double = { Double.random(in: 0...1) },
        logger: Logger = Logger(label: "breakwater.retry"),
        events: RetryEvents? = nil
    ) {
        self.init(
            policies: PolicyTable(defaultPolicy: MethodPolicy(retry: policy)),
            throttle: throttle, clock: clock, random: random, logger: logger, events: events
        )
    }

    /// Runs the attempts of one call, under its ``BreakwaterCore/CallOptions/policyOverride``'s retry
    /// policy when it has one.
    public func intercept(
        request: ClientRequest,
        context: ClientContext,
        next: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        var policy = policies.policy(for: context.descriptor)?.retry
        if let override = try context.options.checkedPolicyOverride(for: context.descriptor) {
            policy = override.retry(over: policy)
        }
        return try await attempts(request: request, context: context, policy: policy, next: next)
    }

    /// Runs the attempts of one call under `policy` (`nil`: only the transparent retry), each through `next`.
    func attempts(
        request: ClientRequest,
        context: ClientContext,
        policy: RetryPolicy?,
        next: (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        let failure: any Error
        do {
            return committed(try await next(request, Self.attemptContext(context, policy: policy)), policy: policy)
        } catch {
            failure = error
        }
        return try await attempts(after: failure, request: request, context: context, policy: policy, next: next)
    }

    /// The context of an attempt: the call's, with the policy's per-attempt deadline. The first attempt
    /// needs nothing else from the retry machinery (no state, no metadata, no clock), so a chain can make
    /// it itself and enter ``attempts(after:request:context:policy:next:)`` only when it fails.
    static func attemptContext(_ context: ClientContext, policy: RetryPolicy?) -> ClientContext {
        guard let perAttempt = policy?.perAttemptTimeout else { return context }
        var attemptContext = context
        let attemptDeadline = ContinuousClock.now.advanced(by: perAttempt)
        attemptContext.deadline = min(context.deadline ?? attemptDeadline, attemptDeadline)
        return attemptContext
    }

    /// Goes on with a call whose first attempt (made with ``attemptContext(_:policy:)``'s context) failed
    /// with `firstFailure`: retries it under `policy` (`nil`: only the transparent retry) through `next`,
    /// or throws the failure when it is not retried. `context` is the call's, not the first attempt's.
    func attempts(
        after firstFailure: any Error,
        request: ClientRequest,
        context: ClientContext,
        policy: RetryPolicy?,
        next: (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        var state = policy.map { RetryState(policy: $0) }
        var transparentRetryUsed = false
        // Attempts started, transparent ones included (the policy's count leaves those out).
        var attemptNumber = 1
        // The call's time, for the deadline checks: the real time at the first failure, plus what the
        // injected clock says has elapsed since.
        let origin = (real: ContinuousClock.now, clock: clock.elapsed())
        var error = firstFailure

        while true {
            guard let rpc = error as? RPCError, !rpc.isCircuitBreakerRejection else { throw error }
            let remaining = context.deadline.map { deadline in
                origin.real.advanced(by: clock.elapsed() - origin.clock).duration(to: deadline)
            }
            // Why the next attempt is made, for its context (observers read it).
            let attemptReason: ClientRetry.Reason

            // Not for a connect failure: at once, it would only try the same dead address again and give
            // the breaker a second sample of the same outage. The retry policy's attempts still apply.
            if !transparentRetryUsed, rpc.streamNeverReachedServer, !rpc.connectionNeverEstablished,
                !request.messages.isCommitted,
                remaining.map({ $0 > .zero }) ?? true
            {
                transparentRetryUsed = true
                attemptReason = .transparent(rpc.code)
                announce(
                    ClientRetry(
                        method: context.descriptor, attempt: attemptNumber + 1,
                        reason: .transparent(rpc.code), backoff: .zero),
                    context: context, message: "retrying transparently: the stream never reached the server")
                attemptNumber += 1
            } else {
                guard var current = state, let policy else { throw error }

                let pushback = RetryPushback(metadata: rpc.metadata)
                var throttleAllows = true
                if let throttle, policy.retryableStatusCodes.contains(rpc.code) {
                    throttleAllows = throttle.recordFailure()
                }
                let decision = current.decide(
                    after: rpc, pushback: pushback, committed: request.messages.isCommitted,
                    throttleAllowsRetry: throttleAllows, remaining: remaining, random: random()
                )
                state = current
                switch decision {
                case .retry(let delay):
                    let pushedBack = if case .retryAfter? = pushback { true } else { false }
                    attemptReason = pushedBack ? .pushback(rpc.code) : .status(rpc.code)
                    announce(
                        ClientRetry(
                            method: context.descriptor, attempt: attemptNumber + 1,
                            reason: attemptReason, backoff: delay),
                        context: context, message: "retrying")
                    attemptNumber += 1
                    if delay > .zero {
                        do {
                            try await clock.sleep(for: delay)
                        } catch {
                            throw RPCError(
                                code: .cancelled, message: "The call was cancelled during a retry backoff", cause: rpc)
                        }
                    }
                    if Task.isCancelled {
                        throw RPCError(code: .cancelled, message: "The call was cancelled during a retry backoff", cause: rpc)
                    }
                case .doNotRetry(.deadline):
                    if let remaining, remaining <= .zero, rpc.code != .deadlineExceeded {
                        throw RPCError(
                            code: .deadlineExceeded,
                            message: "Deadline exceeded after \(current.attemptsStarted) attempt(s); last error: \(rpc)",
                            cause: rpc
                        )
                    }
                    throw rpc
                case .doNotRetry:
                    throw rpc
                }
            }

            var attemptRequest = request
            var attemptContext = Self.attemptContext(context, policy: policy)
            attemptContext.attempt = ClientAttempt(number: attemptNumber, reason: attemptReason)
            if let previous = state?.previousAttempts, previous > 0 {
                attemptRequest.metadata.replaceOrAddString(String(previous), forKey: Self.previousAttemptsKey)
            }
            do {
                return committed(try await next(attemptRequest, attemptContext), policy: policy)
            } catch let caught {
                error = caught
            }
        }
    }

    /// Logs, publishes and reports one retry.
    private func announce(_ retry: ClientRetry, context: ClientContext, message: Logger.Message) {
        logger.debug(
            message,
            metadata: [
                "method": "\(retry.method)", "attempt": "\(retry.attempt)", "reason": "\(retry.reason.name)",
                "status": "\(retry.reason.code.map { "\($0)" } ?? "")", "backoff": "\(retry.backoff)",
            ])
        events?.publish(retry)
        context.report(.retry(retry))
    }

    /// The response of the attempt that got response headers: the call is committed. With a throttle,
    /// its final status still feeds the throttle (OK puts tokens back, a retryable status takes one).
    func committed(_ response: ClientResponse, policy: RetryPolicy?) -> ClientResponse {
        guard let throttle, let policy else { return response }
        var observed = response
        observed.body = response.body.notifying(ThrottleFeedback(throttle: throttle, retryable: policy.retryableStatusCodes))
        return observed
    }
}

/// Feeds a committed call's final status to the target's retry throttle: OK puts tokens back, a
/// retryable status takes one.
private struct ThrottleFeedback: ClientResponseObserver {
    let throttle: RetryThrottle
    let retryable: Set<Status.Code>

    func responseEnded(_ end: ClientResponseEnd) {
        throttle.record(end, retryable: retryable)
    }
}
