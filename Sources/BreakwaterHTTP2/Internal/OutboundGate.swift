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

/// Received bytes of one stream that were not yet returned to flow control, and messages handed to the
/// application but not yet taken. Bytes are consumed (returned to the peer's window) at once while the
/// application keeps up, and only as it takes messages when more than `highWater` is waiting.
struct InboundWindow: Sendable {
    static let highWater = 256 * 1024

    /// Wire bytes of messages queued for the application.
    var queuedBytes = 0
    /// The loop left received bytes unconsumed and waits to hear that the queue shrank.
    var kickWanted = false

    /// Messages of `bytes` were queued. Returns true when received bytes may be consumed now.
    mutating func queued(_ bytes: Int) -> Bool {
        queuedBytes += bytes
        if queuedBytes <= Self.highWater { return true }
        kickWanted = true
        return false
    }

    /// A message of `bytes` was taken. Returns true when the loop should now consume what it held back.
    mutating func taken(_ bytes: Int) -> Bool {
        queuedBytes -= bytes
        if kickWanted && queuedBytes <= Self.highWater {
            kickWanted = false
            return true
        }
        return false
    }
}
