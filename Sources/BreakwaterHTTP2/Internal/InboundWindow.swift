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
