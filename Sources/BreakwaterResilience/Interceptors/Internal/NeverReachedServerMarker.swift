import BreakwaterCore

/// The marker a transport-level failure carries, as the `cause` of an `RPCError`, when the server is
/// known never to have seen the request (`ClientStreamEnd.neverReachedServer`: connection failure before
/// the stream was sent, REFUSED_STREAM, or a stream above a GOAWAY's last-stream-id). The retry
/// interceptor makes one transparent retry for such a failure.
///
/// BreakwaterCore does not yet carry `neverReachedServer` into the `RPCError` that `next` throws; once
/// it sets a cause type for it, that type conforms here.
protocol NeverReachedServerMarker: Error {}

extension RPCError {
    /// Whether this error says its stream never reached the server.
    var streamNeverReachedServer: Bool {
        cause is any NeverReachedServerMarker
    }
}
