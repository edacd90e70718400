/// Which attempt of its call a ``ClientContext`` is for: its number and why it was made.
///
/// The retry and hedging interceptors of BreakwaterResilience set ``ClientContext/attempt`` on the
/// context of every attempt after the first, so that what observes an attempt (the tracing
/// interceptor's span per attempt, through ``ClientCallObserver/attemptStarting(context:metadata:)``)
/// knows which one it is. A call that nothing retries has only its first attempt.
public struct ClientAttempt: Sendable, Hashable {
    /// The attempt's number: 1 for the first, then one more for each retry or hedge, transparent
    /// retries included, as ``ClientRetry/attempt`` numbers them. An attempt an interceptor ended
    /// without the network (a breaker's rejection) has a number too, so numbers may skip.
    public var number: Int
    /// Why this attempt was made: the reason of the ``ClientRetry`` that announced it; `nil` for the
    /// first attempt.
    public var reason: ClientRetry.Reason?

    /// The first attempt of a call.
    @inlinable
    public static var first: ClientAttempt { ClientAttempt(number: 1, reason: nil) }

    /// Creates an attempt.
    /// - Parameters:
    ///   - number: The attempt's number, 1 for the first.
    ///   - reason: Why it was made; `nil` for the first attempt.
    @inlinable
    public init(number: Int, reason: ClientRetry.Reason?) {
        self.number = number
        self.reason = reason
    }
}
