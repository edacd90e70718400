import BreakwaterCore
/// Writes gRPC length-prefixed messages (the transport's send queue frames with `prefix`).
public enum MessageFramer {
    /// The 5-byte prefix of a message of `length` bytes: the compressed flag, then the length big-endian.
    @inlinable
    public static func prefix(length: Int, compressed: Bool) -> (UInt8, UInt8, UInt8, UInt8, UInt8) {
        let n = UInt32(truncatingIfNeeded: length)
        return (
            compressed ? 1 : 0, UInt8(truncatingIfNeeded: n >> 24), UInt8(truncatingIfNeeded: n >> 16),
            UInt8(truncatingIfNeeded: n >> 8), UInt8(truncatingIfNeeded: n)
        )
    }

    /// Appends the 5-byte prefix and `payload` to `buffer`.
    public static func append(_ payload: some Collection<UInt8>, compressed: Bool, to buffer: inout [UInt8]) {
        let p = prefix(length: payload.count, compressed: compressed)
        buffer.reserveCapacity(buffer.count + 5 + payload.count)
        buffer += [p.0, p.1, p.2, p.3, p.4]
        buffer.append(contentsOf: payload)
    }

    /// One framed message.
    public static func frame(_ payload: some Collection<UInt8>, compressed: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        append(payload, compressed: compressed, to: &out)
        return out
    }
}
