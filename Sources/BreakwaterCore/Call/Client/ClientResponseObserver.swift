/// How a response body ended, as a ``ClientResponseObserver`` learns it.
public enum ClientResponseEnd: Sendable {
    /// The trailers of an OK status arrived.
    case trailers(Metadata)
    /// The body's iterator threw: for a non-OK status, an `RPCError` with the code, message and trailers.
    case error(any Error)
    /// The body was dropped, or ended without trailers, before its status was known.
    case abandoned
}

/// Learns how a call's response ends without wrapping its body.
///
/// Interceptors that only need the final status (a circuit breaker recording the outcome, a retry
/// throttle returning tokens) register one with ``ClientResponse/Body/notifying(_:)``. For a body that
/// comes from the transport the observer rides on the transport stream itself, so observing costs no
/// extra work per message and no extra layer of iteration.
public protocol ClientResponseObserver: Sendable {
    /// Called exactly once, from the task that saw the end, or from wherever the body was released
    /// (``ClientResponseEnd/abandoned``). Must not block: it runs on the call's path.
    func responseEnded(_ end: ClientResponseEnd)
}

extension ClientResponse.Body {
    /// This body, with `observer` told once how it ends.
    ///
    /// - A body from the transport keeps its source: the observer is attached to the stream and called when
    ///   the iterator sees the trailers or the error, or with ``ClientResponseEnd/abandoned`` when the body
    ///   and its iterators are released before that.
    /// - A body of fixed parts already knows its end: the observer is called at once.
    /// - Any other body is wrapped in one that watches its parts.
    public func notifying(_ observer: some ClientResponseObserver) -> ClientResponse.Body {
        switch source {
        case .transport(let stream):
            stream.addObserver(observer)
            return self
        case .parts(let parts, let error):
            if let error {
                observer.responseEnded(.error(error))
            } else if case .trailers(let trailers)? = parts.last {
                observer.responseEnded(.trailers(trailers))
            } else {
                observer.responseEnded(.abandoned)
            }
            return self
        case .custom:
            let base = self
            return ClientResponse.Body(
                ObservedBody(base: base, signal: BodyEndSignal(observer)), onCancel: { base.cancel() })
        }
    }
}
