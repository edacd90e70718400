import BreakwaterCore

/// How a response body ended, as interceptors that watch the final status see it.
enum BodyEnd: Sendable {
    /// The trailers of an OK status arrived.
    case trailers(Metadata)
    /// The body's iterator threw (for a non-OK status: an `RPCError` with the trailers).
    case error(any Error)
    /// The body was dropped, or ended without trailers, before its status was known.
    case abandoned
}
