/// The `cause` of an `RPCError` for a stream the server is known never to have seen
/// (`ClientStreamEnd.neverReachedServer`: the connection failed before the stream was sent,
/// REFUSED_STREAM, or a stream above a GOAWAY's last-stream-id). Retrying such a call is always safe.
public struct StreamNeverReachedServer: Error, Sendable, Hashable {
    public init() {}
}

extension RPCError {
    /// Builds the error a stream's end turns into, marking it when the server never saw the stream.
    init(streamEnd end: ClientStreamEnd) {
        self.init(status: end.status, metadata: end.trailers)
        if end.neverReachedServer { cause = StreamNeverReachedServer() }
    }

    /// True when this error says the server never saw the request, so a transparent retry is safe.
    public var neverReachedServer: Bool { cause is StreamNeverReachedServer }
}
