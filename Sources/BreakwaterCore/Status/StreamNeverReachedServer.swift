/// The `cause` of an `RPCError` for a stream the server is known never to have seen
/// (`ClientStreamEnd.neverReachedServer`: the connection failed before the stream was sent,
/// REFUSED_STREAM, or a stream above a GOAWAY's last-stream-id). Retrying such a call is always safe.
public struct StreamNeverReachedServer: Error, Sendable, Hashable {
    /// True when no connection could be made at all (see `ClientStreamEnd.connectionNeverEstablished`).
    public var connectionNeverEstablished: Bool

    /// Creates the marker.
    public init(connectionNeverEstablished: Bool = false) {
        self.connectionNeverEstablished = connectionNeverEstablished
    }
}

extension RPCError {
    /// Builds the error a stream's end turns into, marking it when the server never saw the stream.
    init(streamEnd end: ClientStreamEnd) {
        self.init(status: end.status, metadata: end.trailers)
        if end.neverReachedServer {
            cause = StreamNeverReachedServer(connectionNeverEstablished: end.connectionNeverEstablished)
        }
    }

    /// True when this error says the server never saw the request, so a transparent retry is safe.
    public var neverReachedServer: Bool { cause is StreamNeverReachedServer }

    /// True when this error says no connection could be made for the call.
    public var connectionNeverEstablished: Bool {
        (cause as? StreamNeverReachedServer)?.connectionNeverEstablished ?? false
    }
}
