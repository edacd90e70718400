/// Learns the ``ClientCallEvent``s of the calls whose context carries it.
///
/// An interceptor that wants to see inside a call (metrics, tracing) appends an observer for the call
/// to ``ClientContext/callObservers`` before calling `next`; the interceptors and the transport end of
/// the chain inside it report to every observer of the context they were given.
public protocol ClientCallObserver: Sendable {
    /// Called on the call's path, from the task of the attempt (or of its response body): must be
    /// quick and must not block.
    func observe(_ event: ClientCallEvent, context: ClientContext)
}
