import BreakwaterCore
import BreakwaterWire

/// A received gRPC message as it was on the wire, queued for its reader. A compressed message stays
/// compressed until the reader takes it: the stream holds what the peer sent, never what it inflates to,
/// and the inflating runs on the reader's thread, not on the event loop.
struct InboundMessage: Sendable {
    /// The payload; still compressed when `compressed` is set.
    var payload: [UInt8]
    var compressed: Bool

    /// The bytes it took on the wire (prefix included): what flow control and the budgets count.
    var wireBytes: Int { 5 + payload.count }

    /// The message as the application sees it: decompressed with `encoding`, at most `limit` bytes.
    func decoded(using encoding: CompressionAlgorithm, limit: Int) throws(RPCError) -> [UInt8] {
        guard compressed else { return payload }
        return try MessageCompression.decompress(payload, using: encoding, limit: limit)
    }
}
