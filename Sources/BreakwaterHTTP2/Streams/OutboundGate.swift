import BreakwaterCore

/// Write-side backpressure of one stream, kept under the stream's lock: bytes accepted from the writer but
/// not yet handed to nghttp2, the writer suspended while that is over `limit`, and the error that ends
/// sending.
struct OutboundGate: Sendable {
    static let limit = 64 * 1024

    var buffered = 0
    var writer: UnsafeContinuation<Void, any Error>?
    var failure: RPCError?

    /// Accepts `count` bytes; throws when sending has ended. Returns true when the writer must wait.
    mutating func accept(_ count: Int) throws(RPCError) -> Bool {
        if let failure { throw failure }
        buffered += count
        return buffered > Self.limit
    }

    /// Either resumes at once (room, or failed) or stores the writer.
    mutating func park(_ continuation: UnsafeContinuation<Void, any Error>) -> (UnsafeContinuation<Void, any Error>, RPCError?)? {
        if let failure { return (continuation, failure) }
        if buffered <= Self.limit { return (continuation, nil) }
        writer = continuation
        return nil
    }

    /// `count` bytes went to nghttp2; returns the writer to resume when there is room again.
    mutating func drained(_ count: Int) -> UnsafeContinuation<Void, any Error>? {
        buffered -= count
        if buffered <= Self.limit, let writer {
            self.writer = nil
            return writer
        }
        return nil
    }

    /// Ends sending with `error`; returns the writer to resume with it.
    mutating func fail(_ error: RPCError) -> UnsafeContinuation<Void, any Error>? {
        if failure == nil { failure = error }
        let w = writer
        writer = nil
        return w
    }
}
