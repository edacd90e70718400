import BreakwaterCore
/// Splits a byte stream into gRPC length-prefixed messages, whatever the DATA frame boundaries:
/// each message is a 1-byte compressed flag, a 4-byte big-endian length and the payload.
///
/// A pure value type: feed it bytes with `append`, take messages with `next`.
public struct MessageDeframer: Sendable {
    /// A message as it was on the wire.
    public struct Frame: Sendable, Hashable {
        /// The compressed flag.
        public var compressed: Bool
        /// The payload, still compressed when `compressed` is true.
        public var payload: [UInt8]
        public init(compressed: Bool, payload: [UInt8]) {
            self.compressed = compressed
            self.payload = payload
        }
    }

    /// Why the byte stream cannot be deframed; the stream must end.
    public enum Error: Swift.Error, Sendable, Hashable {
        /// A message's declared length is over the limit (reported as soon as the prefix arrives).
        case messageTooLarge(length: Int, limit: Int)
        /// The compressed flag is neither 0 nor 1.
        case invalidCompressedFlag(UInt8)

        /// The status a stream ends with for this error.
        public var status: Status {
            switch self {
            case .messageTooLarge(let length, let limit):
                Status(code: .resourceExhausted, message: "message of \(length) bytes is over the limit of \(limit) bytes")
            case .invalidCompressedFlag(let flag):
                Status(code: .internalError, message: "invalid compressed flag \(flag) in message prefix")
            }
        }
    }

    /// The largest payload accepted.
    public let maxMessageBytes: Int
    private var buffer: [UInt8] = []
    private var readIndex = 0

    public init(maxMessageBytes: Int = 4 * 1024 * 1024) {
        self.maxMessageBytes = maxMessageBytes
    }

    /// Bytes received but not yet returned as messages.
    public var bufferedBytes: Int { buffer.count - readIndex }

    /// True when part of a message has been received: at end of stream, that is a truncated message.
    public var hasPartialMessage: Bool { bufferedBytes > 0 }

    /// Appends received bytes.
    public mutating func append(_ bytes: some Collection<UInt8>) {
        compactIfNeeded()
        buffer.append(contentsOf: bytes)
    }

    /// Appends received bytes from raw memory.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compactIfNeeded()
        buffer.append(contentsOf: bytes)
    }

    /// The next whole message, or nil when more bytes are needed.
    public mutating func next() throws(Error) -> Frame? {
        let available = buffer.count - readIndex
        guard available >= 5 else { return nil }
        let flag = buffer[readIndex]
        guard flag <= 1 else { throw .invalidCompressedFlag(flag) }
        let length =
            Int(buffer[readIndex + 1]) << 24 | Int(buffer[readIndex + 2]) << 16
            | Int(buffer[readIndex + 3]) << 8 | Int(buffer[readIndex + 4])
        guard length <= maxMessageBytes else { throw .messageTooLarge(length: length, limit: maxMessageBytes) }
        guard available - 5 >= length else { return nil }
        let start = readIndex + 5
        let payload: [UInt8]
        if readIndex == 0 && start + length == buffer.count && length > 0 {
            // The buffer holds exactly this message: hand over its storage instead of copying.
            buffer.removeFirst(5)
            payload = buffer
            buffer = []
            readIndex = 0
        } else {
            payload = Array(buffer[start..<start + length])
            readIndex = start + length
            if readIndex == buffer.count {
                buffer.removeAll(keepingCapacity: buffer.capacity <= 64 * 1024)
                readIndex = 0
            }
        }
        return Frame(compressed: flag == 1, payload: payload)
    }

    /// The next whole message straight from `bytes` when nothing is buffered, with `bytes` advanced past
    /// it: a message that arrives whole in one piece is copied once, into its payload, instead of into the
    /// buffer and out of it again. Nil, with `bytes` untouched, when bytes are buffered or `bytes` does not
    /// hold a whole message: `append` what is left of `bytes` then. Throws as `next()` does.
    public mutating func next(from bytes: inout UnsafeRawBufferPointer) throws(Error) -> Frame? {
        guard buffer.count == readIndex, bytes.count >= 5 else { return nil }
        let flag = bytes[0]
        guard flag <= 1 else { throw .invalidCompressedFlag(flag) }
        let length = Int(bytes[1]) << 24 | Int(bytes[2]) << 16 | Int(bytes[3]) << 8 | Int(bytes[4])
        guard length <= maxMessageBytes else { throw .messageTooLarge(length: length, limit: maxMessageBytes) }
        guard bytes.count - 5 >= length else { return nil }
        let payload = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[5..<5 + length]))
        bytes = UnsafeRawBufferPointer(rebasing: bytes[(5 + length)...])
        return Frame(compressed: flag == 1, payload: payload)
    }

    private mutating func compactIfNeeded() {
        if readIndex > 0 && readIndex >= buffer.count / 2 {
            buffer.removeFirst(readIndex)
            readIndex = 0
        }
    }
}
