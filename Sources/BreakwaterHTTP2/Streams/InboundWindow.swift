/// Received messages of one stream handed to the application but not yet taken, kept under the stream's
/// lock. Received bytes are consumed (returned to the peer's window) at once while the application keeps
/// up, and only as it takes messages when more than `limit` is waiting.
///
/// Messages are counted by their size on the wire: compressed messages stay compressed until taken, so
/// what a stream holds is what the peer sent, never what it would expand to.
struct InboundWindow: Sendable {
    /// Queued bytes past which received bytes are held back.
    let limit: Int
    /// Wire bytes of messages queued for the application.
    private(set) var queuedBytes = 0
    /// The loop left received bytes unconsumed and waits to hear that the queue shrank.
    var kickWanted = false

    init(limit: Int) {
        self.limit = limit
    }

    /// A message of `bytes` was queued. Returns whether the stream is now over its limit (and so wants a
    /// kick when the application catches up).
    mutating func queued(_ bytes: Int) -> Bool {
        queuedBytes += bytes
        if queuedBytes <= limit { return false }
        kickWanted = true
        return true
    }

    /// A message of `bytes` was taken. Returns true when the loop should now consume what it held back.
    mutating func taken(_ bytes: Int) -> Bool {
        queuedBytes -= bytes
        if kickWanted && queuedBytes <= limit {
            kickWanted = false
            return true
        }
        return false
    }

    /// Every queued message is dropped; returns their bytes.
    mutating func dropAll() -> Int {
        defer {
            queuedBytes = 0
            kickWanted = false
        }
        return queuedBytes
    }
}
