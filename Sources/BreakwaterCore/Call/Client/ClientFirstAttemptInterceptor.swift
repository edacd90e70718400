/// An interceptor whose common case is synchronous work around one attempt: it prepares the call (a
/// deadline, a breaker's permit), the client makes the first attempt itself, and the interceptor sees how
/// it ended. Only a first attempt that fails gives the interceptor an asynchronous level of its own.
///
/// A chain of one interceptor costs two asynchronous levels per call (its `intercept` and the `next` it
/// calls); a timeout, a breaker and a retry policy whose first attempt succeeds need neither. When such an
/// interceptor is a client's whole chain, the client calls ``prepareFirstAttempt(_:)`` and, if it gets an
/// attempt back, calls the transport with the prepared context and hands the result to the attempt. Anywhere
/// else in a chain (behind a metrics interceptor, say) the client calls ``ClientInterceptor/intercept(request:context:next:)``
/// as usual, which should make the same decisions (it can call `prepareFirstAttempt` itself).
public protocol ClientFirstAttemptInterceptor: ClientInterceptor {
    /// Prepares the first attempt of a call, synchronously, on the caller's task: may bound the context's
    /// deadline, change its options, take a permit; or throws the error the call fails with (a rejection).
    ///
    /// Returns `nil`, leaving `context` unchanged, when the call needs ``ClientInterceptor/intercept(request:context:next:)``
    /// (hedging, a fallback, a per-call override): the client then calls that with the same context.
    /// It must be quick and must not block.
    func prepareFirstAttempt(_ context: inout ClientContext) throws -> (any ClientFirstAttempt)?
}
