/// A synchronous look at a call before the client builds it: an interceptor that can tell at once that it
/// would reject the call (a circuit breaker that is open) says so here, so that the rejected call costs no
/// request serialization, no interceptor chain and no asynchronous level.
///
/// The client asks only the outermost interceptor of a method's chain, and only when that interceptor
/// conforms: an interceptor outside it (metrics, tracing) must see every call, rejected ones included, so
/// with one in front the rejection happens in the chain as usual. A call `admit` lets through runs the
/// chain, which must still make every decision itself (`admit` is a shortcut, not a permit).
public protocol ClientCallAdmission: ClientInterceptor {
    /// Throws the error the call would fail with, when the interceptor already knows it would reject the
    /// call without calling `next`; returns otherwise. It must be quick and must not block: the client
    /// calls it on the caller's thread for every call of the methods it applies to.
    /// - Parameter context: the call's method, kind, deadline and options.
    func admit(_ context: ClientContext) throws(RPCError)

    /// The error ``admit(_:)`` would throw, as the `any Error` the call fails with; `nil` when `admit`
    /// would return. The client asks this one.
    ///
    /// An `RPCError` thrown by `admit` is boxed into a new `any Error` for every call it fails (a
    /// malloc and a free); an interceptor that rejects many calls with the same error can keep it boxed
    /// and return that box, which the client throws as it is. The default calls ``admit(_:)``.
    func admissionError(_ context: ClientContext) -> (any Error)?
}

extension ClientCallAdmission {
    /// The error ``admit(_:)`` throws, boxed anew.
    public func admissionError(_ context: ClientContext) -> (any Error)? {
        do {
            try admit(context)
            return nil
        } catch {
            return error
        }
    }
}
