/// Learns the ``ClientCallEvent``s of the calls whose context carries it.
///
/// An interceptor that wants to see inside a call (metrics, tracing) appends an observer for the call
/// to ``ClientContext/callObservers`` before calling `next`; the interceptors and the transport end of
/// the chain inside it report to every observer of the context they were given.
public protocol ClientCallObserver: Sendable {
    /// Called on the call's path, from the task of the attempt (or of its response body): must be
    /// quick and must not block.
    /// - Parameters:
    ///   - event: What happened.
    ///   - context: The context of the attempt it happened in (``ClientContext/attempt`` says which).
    func observe(_ event: ClientCallEvent, context: ClientContext)

    /// Called when a network attempt is about to go to the transport, before its request headers are
    /// made and before ``ClientCallEvent/attemptStarted`` is reported: the observer may add to the
    /// attempt's request metadata (a tracer puts the attempt span's context there), and may ask to learn
    /// how the attempt ends. It runs on the call's path: it must be quick and must not block.
    ///
    /// The default implementation adds nothing and returns `nil`.
    /// - Parameters:
    ///   - context: The attempt's context; ``ClientContext/attempt`` says which attempt it is.
    ///   - metadata: The attempt's request metadata, sent as its request headers.
    /// - Returns: An observer told exactly once how this attempt ended: the trailers of an OK status, the
    ///   error of another status (whether it came before or after response headers), or
    ///   ``ClientResponseEnd/abandoned`` when its response was dropped first; `nil` to learn nothing.
    func attemptStarting(context: ClientContext, metadata: inout Metadata) -> (any ClientResponseObserver)?
}

extension ClientCallObserver {
    /// Adds nothing and asks for nothing.
    /// - Parameters:
    ///   - context: The attempt's context.
    ///   - metadata: The attempt's request metadata, left as it is.
    /// - Returns: `nil`.
    public func attemptStarting(context: ClientContext, metadata: inout Metadata) -> (any ClientResponseObserver)? {
        nil
    }
}
