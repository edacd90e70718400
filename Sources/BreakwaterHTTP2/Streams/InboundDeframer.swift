import BreakwaterCore
import BreakwaterWire

/// The gRPC messages in one stream's DATA, whatever the frame boundaries, as both sides read them: the
/// deframer with the stream's limit, and the check that a compressed message has an encoding to inflate
/// it with. Messages stay as they were on the wire (`InboundMessage`); the reader inflates them.
struct InboundDeframer: Sendable {
    private var deframer: MessageDeframer
    /// The stream's `grpc-encoding` (the client learns it with the response headers).
    var encoding: CompressionAlgorithm

    init(maxMessageBytes: Int, encoding: CompressionAlgorithm = .identity) {
        deframer = MessageDeframer(maxMessageBytes: maxMessageBytes)
        self.encoding = encoding
    }

    /// The largest message accepted (after decompression too).
    var maxMessageBytes: Int { deframer.maxMessageBytes }
    /// Bytes of a message still arriving.
    var bufferedBytes: Int { deframer.bufferedBytes }
    /// Whether part of a message has arrived: at the end of the stream, a truncated message.
    var hasPartialMessage: Bool { deframer.hasPartialMessage }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        deframer.append(bytes)
    }

    /// The next whole message, nil when more bytes are needed. Throws the status the stream ends with: a
    /// message over the limit (RESOURCE_EXHAUSTED), a broken prefix or a compressed message without an
    /// encoding (INTERNAL). `wireBytes` counts what the message took from the buffer, thrown or not.
    mutating func next(wireBytes: inout Int) throws(RPCError) -> InboundMessage? {
        wireBytes = 0
        let frame: MessageDeframer.Frame?
        do {
            frame = try deframer.next()
        } catch {
            throw RPCError(status: error.status)
        }
        return try message(frame, wireBytes: &wireBytes)
    }

    /// As `next(wireBytes:)`, but straight from `bytes` while nothing is buffered (see
    /// `MessageDeframer.next(from:)`): nil when `bytes` holds no whole message or bytes are buffered, and
    /// the caller appends what is left of `bytes`.
    mutating func next(from bytes: inout UnsafeRawBufferPointer, wireBytes: inout Int) throws(RPCError) -> InboundMessage? {
        wireBytes = 0
        let frame: MessageDeframer.Frame?
        do {
            frame = try deframer.next(from: &bytes)
        } catch {
            throw RPCError(status: error.status)
        }
        return try message(frame, wireBytes: &wireBytes)
    }

    private func message(_ frame: MessageDeframer.Frame?, wireBytes: inout Int) throws(RPCError) -> InboundMessage? {
        guard let frame else { return nil }
        wireBytes = 5 + frame.payload.count
        if frame.compressed && encoding == .identity {
            throw RPCError(code: .internalError, message: "compressed message without grpc-encoding")
        }
        return InboundMessage(payload: frame.payload, compressed: frame.compressed)
    }

    /// Drops the part of a message still arriving; returns its bytes.
    mutating func dropPartialMessage() -> Int {
        let partial = deframer.bufferedBytes
        if partial > 0 { deframer = MessageDeframer(maxMessageBytes: deframer.maxMessageBytes) }
        return partial
    }
}
