import BreakwaterCore
import Logging

/// A client interceptor that hedges calls as gRFC A6 says: attempts race, the first answer wins.
///
/// For a method whose policy has a ``MethodPolicy/hedging`` policy:
///
/// - The first attempt is sent at once, another after each ``HedgingPolicy/hedgingDelay`` (slept on the
///   injected clock), up to ``HedgingPolicy/maxAttempts`` in all; an attempt that fails with one of the
///   ``HedgingPolicy/nonFatalStatusCodes`` sends the next hedge at once.
/// - The first attempt that gets response headers commits the call (as gRPC does, for every kind of
///   call: a unary answer comes with its headers, a stream gets its headers when the server answers);
///   so does the first attempt that fails with a fatal status. Every other attempt is cancelled (its
///   stream reset with CANCEL, its handler cancelled on the server).
/// - Hedges carry `grpc-previous-rpc-attempts`, the number of attempts sent before them.
/// - The target's ``RetryThrottle`` applies: each attempt that fails with a non-fatal status takes a
///   token, the committed call's end feeds it as for retries, and no hedge is sent while it says no.
/// - Server pushback (`grpc-retry-pushback-ms`) on a failed attempt: a delay moves the next hedge to
///   that delay from now; a negative or unparseable value stops further hedges.
/// - A circuit breaker's rejection of a hedge stops further hedges; the attempts in flight still race.
/// - No hedge is sent once the call's deadline has passed.
/// - Each hedge is a debug line, a `ClientRetry` with reason `hedge` on ``events`` and a
///   `ClientCallEvent.retry` for the call's observers (metrics, tracing); its context's
///   `ClientContext.attempt` has its number and the reason `hedge`.
///
/// Client- and bidirectional-streaming calls are hedged too (gRFC A6): each attempt reads its own view of
/// the request's retry buffer (`RequestMessages.attempt(_:)`), from the first message and then following
/// the producer's writes. When the request outgrows the buffer, the call is committed to the attempt that
/// has sent the most messages: the others fail at their next read and are cancelled, no hedge follows, and
/// the call ends with that attempt's outcome.
public struct HedgingInterceptor: ClientInterceptor {
    /// One attempt: the request (with `grpc-previous-rpc-attempts` on hedges), its context, and whether it
    /// is a hedge (not the first attempt).
    typealias Attempt = @Sendable (ClientRequest, ClientContext, _ isHedge: Bool) async throws -> ClientResponse

    /// The policies; methods whose policy has no ``MethodPolicy/hedging`` are passed through.
    public let policies: PolicyTable
    /// The target's retry throttle, shared by all its calls and by retries; `nil`: no throttling.
    public let throttle: RetryThrottle?
    /// Where each hedge is published; `nil`: nowhere.
    public let events: RetryEvents?
    private let clock: InterceptorClock
    /// Each hedge is a debug line with its method, attempt and reason.
    private static let logger = Logger(label: "breakwater.hedging")

    /// Creates an interceptor.
    /// - Parameters:
    ///   - policies: The method policies; only their ``MethodPolicy/hedging`` is used.
    ///   - throttle: The target's throttle; share the retry interceptor's instance.
    ///   - clock: The clock hedging delays are slept on; a manual clock in tests.
    ///   - events: Where each hedge is published; share the retry interceptor's.
    public init(
        policies: PolicyTable, throttle: RetryThrottle? = nil, clock: some Clock<Duration> = ContinuousClock(),
        events: RetryEvents? = nil
    ) {
        self.policies = policies
        self.throttle = throttle
        self.clock = InterceptorClock(clock)
        self.events = events
    }

    /// Creates an interceptor that hedges every method it applies to with `policy`.
    public init(
        policy: HedgingPolicy, throttle: RetryThrottle? = nil, clock: some Clock<Duration> = ContinuousClock(),
        events: RetryEvents? = nil
    ) {
        self.init(
            policies: PolicyTable(defaultPolicy: MethodPolicy(hedging: policy)), throttle: throttle, clock: clock,
            events: events)
    }

    /// Runs the attempts of one call, under its ``BreakwaterCore/CallOptions/policyOverride``'s hedging
    /// policy when it has one.
    public func intercept(
        request: ClientRequest,
        context: ClientContext,
        next: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        var hedging = policies.policy(for: context.descriptor)?.hedging
        if let override = try context.options.checkedPolicyOverride(for: context.descriptor) {
            hedging = override.hedging(over: hedging)
        }
        guard let policy = hedging else {
            return try await next(request, context)
        }
        return try await attempts(request: request, context: context, policy: policy) { request, context, _ in
            try await next(request, context)
        }
    }

    /// What one attempt's task reports.
    private enum Event: Sendable {
        case answered(ClientResponse, attempt: Int)
        case failed(any Error, attempt: Int)
        case timer(generation: Int)
        /// A streamed request was committed (its retry buffer overflowed, or an attempt answered); the
        /// request says to which attempt.
        case committed
    }

    /// Runs the hedged attempts of one call under `policy`, each through `attempt`.
    func attempts(
        request: ClientRequest, context: ClientContext, policy: HedgingPolicy, attempt: Attempt
    ) async throws -> ClientResponse {
        // The attempts run in child tasks of a group that ends before this returns, so `attempt` never
        // outlives the call.
        let outcome = await withoutActuallyEscaping(attempt) { attempt in
            await race(request: request, context: context, policy: policy, attempt: attempt)
        }
        return try committed(outcome.get(), policy: policy)
    }

    /// Races the attempts; the group ends, every attempt finished, before this returns.
    ///
    /// A streamed request (client and bidirectional streaming) gives each attempt its own view of the
    /// retry buffer. When the buffer overflows, the request is committed to the attempt that has sent
    /// the most (gRFC A6); the others fail at their next read (CANCELLED) and no hedge follows. That
    /// commit is one more event of the race, from a child task that waits for it.
    private func race(
        request: ClientRequest, context: ClientContext, policy: HedgingPolicy, attempt: @escaping Attempt
    ) async -> Result<ClientResponse, any Error> {
        let clock = self.clock
        let throttle = self.throttle
        let events = self.events
        let messages = request.messages
        let streamed = messages.isStreamed
        return await withTaskGroup(of: Event.self) { group -> Result<ClientResponse, any Error> in
            var state = HedgingState(policy: policy)
            func send(previousAttempts: Int, reason: String) {
                var attemptRequest = request
                var attemptContext = context
                let number = previousAttempts + 1
                if streamed { attemptRequest.messages = messages.attempt(number) }
                if previousAttempts > 0 {
                    attemptContext.attempt = ClientAttempt(number: number, reason: .hedge)
                    attemptRequest.metadata.replaceOrAddString(
                        String(previousAttempts), forKey: RetryInterceptor.previousAttemptsKey)
                    Self.logger.debug(
                        "hedging",
                        metadata: ["method": "\(context.descriptor)", "attempt": "\(number)", "reason": "\(reason)"])
                    let hedge = ClientRetry(method: context.descriptor, attempt: number, reason: .hedge, backoff: .zero)
                    events?.publish(hedge)
                    context.report(.retry(hedge))
                }
                group.addTask {
                    do {
                        return .answered(try await attempt(attemptRequest, attemptContext, previousAttempts > 0), attempt: number)
                    } catch {
                        // At once, not when the loop hears of it: a commit meanwhile must not pick it.
                        if streamed { messages.endAttempt(number) }
                        return .failed(error, attempt: number)
                    }
                }
            }
            func deadlinePassed() -> Bool { context.deadline.map { $0 <= .now } ?? false }
            func mayHedgeNow() -> Bool {
                !Task.isCancelled && !deadlinePassed() && (throttle?.isRetryAllowed ?? true)
                    && !(streamed && messages.isCommitted)
            }
            // The error the call ends with when no attempt is left: the last attempt's.
            var lastError: any Error = RPCError(code: .unavailable, message: "No hedged attempt could be sent")
            // Once a streamed request is committed: the attempt that carries the call (`nil`: none).
            var commitment: Int?? = nil
            var failedAttempts: Set<Int> = []

            /// The request was committed: no further hedge, and only the winner counts from now on.
            func noteCommit() {
                guard commitment == nil, messages.isCommitted else { return }
                commitment = .some(messages.committedAttempt)
                state.stopHedging()
            }

            state.start(now: clock.elapsed())
            send(previousAttempts: 0, reason: "first")
            if streamed {
                group.addTask {
                    _ = await messages.waitForCommit()
                    return .committed
                }
            }
            var timerGeneration = 0
            var timerArmedFor: Duration?

            while true {
                // Hedges already due (a zero delay sends them all now), then the timer for the next one.
                while let due = state.nextHedgeAt, due <= clock.elapsed() {
                    switch state.timerFired(now: clock.elapsed(), mayHedge: mayHedgeNow()) {
                    case .hedge(let previous):
                        send(previousAttempts: previous, reason: "delay")
                    case .wait:
                        break
                    case .fail:
                        await Self.cancelLosers(of: &group)
                        if deadlinePassed(), (lastError as? RPCError)?.code != .deadlineExceeded {
                            return .failure(RPCError(
                                code: .deadlineExceeded,
                                message: "Deadline exceeded after \(state.attemptsStarted) hedged attempt(s); last error: \(lastError)",
                                cause: lastError))
                        }
                        return .failure(lastError)
                    }
                }
                if let due = state.nextHedgeAt, due != timerArmedFor {
                    timerGeneration += 1
                    timerArmedFor = due
                    let generation = timerGeneration
                    let delay = due - clock.elapsed()
                    group.addTask {
                        try? await clock.sleep(for: delay)
                        return .timer(generation: generation)
                    }
                }

                guard let event = await group.next() else {
                    // Unreachable: an attempt is in flight or a timer is armed whenever the loop waits.
                    return .failure(lastError)
                }
                switch event {
                case .timer(let generation):
                    guard generation == timerGeneration else { continue }
                    timerArmedFor = nil
                    if Task.isCancelled {
                        await Self.cancelLosers(of: &group)
                        return .failure(RPCError(code: .cancelled, message: "The call was cancelled while hedging"))
                    }
                // Due hedges are sent at the top of the loop.
                case .committed:
                    noteCommit()
                    // Committed to no attempt still in flight: the ones left fail at their next read.
                case .answered(let response, let number):
                    if streamed, messages.commit(toAttempt: number) != number {
                        // The buffer overflowed just before, committing the call to another attempt.
                        noteCommit()
                        response.body.cancel()
                        if state.attemptAbandoned() == .fail {
                            await Self.cancelLosers(of: &group)
                            return .failure(lastError)
                        }
                        continue
                    }
                    await Self.cancelLosers(of: &group)
                    return .success(response)
                case .failed(let error, let number):
                    if streamed {
                        // Only a streamed request can be committed while attempts are in flight.
                        failedAttempts.insert(number)
                        noteCommit()
                    }
                    if let commitment {
                        // Committed: the winner's failure ends the call; another attempt's is expected.
                        if commitment == number {
                            await Self.cancelLosers(of: &group)
                            return .failure(error)
                        }
                        // The call's error is the winner's; with none left, the last attempt's.
                        if !(commitment.map { !failedAttempts.contains($0) } ?? false) { lastError = error }
                        if state.attemptAbandoned() == .fail {
                            await Self.cancelLosers(of: &group)
                            return .failure(lastError)
                        }
                        continue
                    }
                    lastError = error
                    let action: HedgingState.Action
                    let rpc = error as? RPCError
                    if error is CircuitBreakerRejection || rpc?.isCircuitBreakerRejection == true {
                        action = state.attemptRejected()
                    } else if let rpc {
                        var throttleAllows = true
                        if let throttle, policy.nonFatalStatusCodes.contains(rpc.code) {
                            throttleAllows = throttle.recordFailure()
                        }
                        let remaining = context.deadline.map { ContinuousClock.now.duration(to: $0) }
                        action = state.attemptFailed(
                            code: rpc.code, pushback: RetryPushback(metadata: rpc.metadata),
                            mayHedge: throttleAllows && !Task.isCancelled && !deadlinePassed()
                                && !(streamed && messages.isCommitted),
                            remaining: remaining,
                            now: clock.elapsed())
                    } else {
                        // Not a status: nothing says it is safe to try again.
                        action = .fail
                    }
                    switch action {
                    case .hedge(let previous):
                        send(previousAttempts: previous, reason: "\(rpc?.code.description ?? "error")")
                    case .wait:
                        continue
                    case .fail:
                        await Self.cancelLosers(of: &group)
                        return .failure(error)
                    }
                }
            }
        }
    }

    /// Cancels every other attempt (and the timer), and waits for them to end; an attempt that
    /// got its headers meanwhile has its stream cancelled.
    private static func cancelLosers(of group: inout TaskGroup<Event>) async {
        group.cancelAll()
        while let event = await group.next() {
            if case .answered(let loser, _) = event { loser.body.cancel() }
        }
    }

    /// The winning response. With a throttle, its final status still feeds the throttle (OK puts
    /// tokens back, a non-fatal status takes one).
    private func committed(_ response: ClientResponse, policy: HedgingPolicy) -> ClientResponse {
        guard let throttle else { return response }
        var observed = response
        observed.body = response.body.notifying(HedgeThrottleFeedback(throttle: throttle, nonFatal: policy.nonFatalStatusCodes))
        return observed
    }
}

/// Feeds a hedged call's final status to the target's retry throttle: OK puts tokens back, a
/// non-fatal status takes one.
private struct HedgeThrottleFeedback: ClientResponseObserver {
    let throttle: RetryThrottle
    let nonFatal: Set<Status.Code>

    func responseEnded(_ end: ClientResponseEnd) {
        switch end {
        case .trailers:
            throttle.recordSuccess()
        case .error(let error):
            if let rpc = error as? RPCError, nonFatal.contains(rpc.code) { throttle.recordFailure() }
        case .abandoned:
            break
        }
    }
}
