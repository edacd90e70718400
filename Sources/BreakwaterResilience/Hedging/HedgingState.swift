import BreakwaterCore

/// The hedging bookkeeping of one call, per gRFC A6, as a plain value type with time passed in: how
/// many attempts were sent and are in flight, when the next hedge is due, and what to do after each
/// event.
///
/// Times are offsets on one timeline (the hedging interceptor uses its injected clock's elapsed
/// time). The interceptor creates one per call, calls ``start(now:)`` for the first attempt, then
/// ``timerFired(now:mayHedge:)`` whenever ``nextHedgeAt`` has come, and
/// ``attemptFailed(code:pushback:mayHedge:remaining:now:)`` or ``attemptRejected()`` when an attempt
/// fails; an attempt that got response headers commits the call, which then needs no further decision.
public struct HedgingState: Sendable, Hashable {
    /// What the call does next.
    public enum Action: Sendable, Hashable {
        /// Send another attempt now; its `grpc-previous-rpc-attempts` is `previousAttempts`.
        case hedge(previousAttempts: Int)
        /// Wait for an attempt in flight to end, or for ``HedgingState/nextHedgeAt``.
        case wait
        /// End the call with the error of the attempt that just failed: it was fatal, or nothing is
        /// left in flight and no hedge will be sent.
        case fail
    }

    /// The policy.
    public let policy: HedgingPolicy
    /// Attempts sent so far.
    public private(set) var attemptsStarted = 0
    /// Attempts sent whose outcome is not known yet.
    public private(set) var inFlight = 0
    /// When the next hedge is due; `nil`: no further hedge is planned (attempts used up, or stopped by
    /// pushback, the throttle, a breaker rejection or the deadline).
    public private(set) var nextHedgeAt: Duration?

    /// The state of a call before its first attempt.
    public init(policy: HedgingPolicy) {
        self.policy = policy
    }

    private var attemptsLeft: Bool { attemptsStarted < policy.maxAttempts }

    /// Counts the first attempt as sent at `now` and plans the first hedge.
    public mutating func start(now: Duration) {
        attemptsStarted = 1
        inFlight = 1
        nextHedgeAt = now + policy.hedgingDelay
    }

    /// The hedge timer fired at `now`. `mayHedge`: the target's throttle allows a hedge and the deadline
    /// has not passed; when it does not, no further hedge is sent.
    public mutating func timerFired(now: Duration, mayHedge: Bool) -> Action {
        guard let due = nextHedgeAt, due <= now else { return inFlight > 0 ? .wait : .fail }
        guard mayHedge else { return stop() }
        return sendHedge(now: now)
    }

    /// An attempt failed with `code` (before response headers).
    ///
    /// A fatal code ends the call. A non-fatal one sends the next hedge at once, unless the server's
    /// pushback says otherwise: ``RetryPushback/doNotRetry`` stops further hedges, a delay moves the next
    /// hedge to `now + delay` (and it is dropped when that is at or past the deadline).
    /// - Parameters:
    ///   - code: The status code the attempt failed with.
    ///   - pushback: The server's `grpc-retry-pushback-ms`, if it sent one.
    ///   - now: The time of the failure, on the call's timeline.
    ///   - mayHedge: The throttle allows a hedge (``RetryThrottle/recordFailure()``'s answer) and the
    ///     deadline has not passed.
    ///   - remaining: Time left before the call's deadline; `nil` without one.
    public mutating func attemptFailed(
        code: Status.Code, pushback: RetryPushback?, mayHedge: Bool, remaining: Duration?, now: Duration
    ) -> Action {
        inFlight -= 1
        guard policy.nonFatalStatusCodes.contains(code) else {
            nextHedgeAt = nil
            return .fail
        }
        guard mayHedge, attemptsLeft else { return stop() }
        switch pushback {
        case .doNotRetry?:
            return stop()
        case .retryAfter(let delay)?:
            if let remaining, delay >= remaining { return stop() }
            nextHedgeAt = now + delay
            return .wait
        case nil:
            return sendHedge(now: now)
        }
    }

    /// An attempt was rejected by its circuit breaker: no further hedge is sent (the breaker would
    /// reject it too); the call waits for the attempts in flight, or fails when there are none.
    public mutating func attemptRejected() -> Action {
        inFlight -= 1
        return stop()
    }

    /// The call was committed (a streamed request outgrew its retry buffer): no further hedge is sent.
    public mutating func stopHedging() {
        nextHedgeAt = nil
    }

    /// An attempt ended that no longer counts: the call was committed to another one. The call waits for
    /// the attempts in flight, or fails when there are none.
    public mutating func attemptAbandoned() -> Action {
        inFlight -= 1
        return stop()
    }

    private mutating func stop() -> Action {
        nextHedgeAt = nil
        return inFlight > 0 ? .wait : .fail
    }

    private mutating func sendHedge(now: Duration) -> Action {
        let previous = attemptsStarted
        attemptsStarted += 1
        inFlight += 1
        nextHedgeAt = attemptsLeft ? now + policy.hedgingDelay : nil
        return .hedge(previousAttempts: previous)
    }
}
