/// Writes gRPC length-prefixed messages.
public enum MessageFramer {
    /// Appends the 5-byte prefix and `payload` to `buffer`.
    public static func append(_ payload: some Collection<UInt8>, compressed: Bool, to buffer: inout [UInt8]) {
        let length = UInt32(truncatingIfNeeded: payload.count)
        buffer.reserveCapacity(buffer.count + 5 + payload.count)
        buffer.append(compressed ? 1 : 0)
        buffer.append(UInt8(truncatingIfNeeded: length >> 24))
        buffer.append(UInt8(truncatingIfNeeded: length >> 16))
        buffer.append(UInt8(truncatingIfNeeded: length >> 8))
        buffer.append(UInt8(truncatingIfNeeded: length))
        buffer.append(contentsOf: payload)
    }

    /// One framed message.
    public static func frame(_ payload: some Collection<UInt8>, compressed: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        append(payload, compressed: compressed, to: &out)
        return out
    }
}
