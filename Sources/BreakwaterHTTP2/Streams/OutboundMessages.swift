import BreakwaterWire

/// Messages waiting for nghttp2's data provider, each as its 5-byte gRPC prefix and its payload. The
/// payload is read in place from the sender's array, so framing copies nothing, and the first message is
/// stored inline (`SmallQueue`).
struct OutboundMessages {
    private struct Message {
        var prefix: (UInt8, UInt8, UInt8, UInt8, UInt8)
        var payload: [UInt8]
        var wireCount: Int { 5 + payload.count }
    }

    private var messages = SmallQueue<Message>()
    /// The message being read (popped from `messages`), and how many of its wire bytes were read.
    private var current: Message?
    private var offset = 0
    /// Wire bytes not read yet.
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    /// The wire size of `payload` once framed.
    static func wireCount(_ payload: [UInt8]) -> Int { 5 + payload.count }

    mutating func append(_ payload: [UInt8], compressed: Bool) {
        let message = Message(prefix: MessageFramer.prefix(length: payload.count, compressed: compressed), payload: payload)
        count += message.wireCount
        if current == nil {
            current = message
            offset = 0
        } else {
            messages.append(message)
        }
    }

    /// Copies up to `buffer.count` wire bytes out; returns how many.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        var written = 0
        while written < buffer.count, let message = current {
            if offset < 5 {
                let n = min(5 - offset, buffer.count - written)
                withUnsafeBytes(of: message.prefix) { prefix in
                    let bytes = UnsafeRawBufferPointer(rebasing: prefix[offset..<offset + n])
                    UnsafeMutableRawBufferPointer(rebasing: buffer[written..<written + n]).copyMemory(from: bytes)
                }
                written += n
                offset += n
                continue
            }
            let start = offset - 5
            let n = min(message.payload.count - start, buffer.count - written)
            if n > 0 {
                message.payload.withUnsafeBytes { payload in
                    let bytes = UnsafeRawBufferPointer(rebasing: payload[start..<start + n])
                    UnsafeMutableRawBufferPointer(rebasing: buffer[written..<written + n]).copyMemory(from: bytes)
                }
                written += n
                offset += n
            }
            if offset == message.wireCount {
                current = messages.popFirst()
                offset = 0
            }
        }
        count -= written
        return written
    }

    mutating func removeAll() {
        messages.removeAll()
        current = nil
        offset = 0
        count = 0
    }
}
