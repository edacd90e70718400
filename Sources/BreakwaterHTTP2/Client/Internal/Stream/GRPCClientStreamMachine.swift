import BreakwaterCore
import BreakwaterWire

/// The inbound side of one gRPC client stream as a pure state machine: response headers, messages and
/// trailers in order, status synthesis for broken responses, the receive limit and decompression.
/// It knows nothing of sockets or nghttp2; the connection feeds it and carries out its outputs.
struct GRPCClientStreamMachine: Sendable {
    enum Phase: Sendable, Equatable {
        case awaitingHeaders
        case receivingMessages
        case ended
    }

    /// What the connection must do.
    enum Output: Sendable {
        /// Deliver response headers.
        case headers(Metadata)
        /// Deliver a message, as it was on the wire (the reader decompresses it with `encoding`); its wire
        /// bytes of flow-control window are returned when it is taken.
        case message(InboundMessage)
        /// Deliver the end; when `reset` is set and the stream is still open, send RST_STREAM with it.
        case end(ClientStreamEnd, reset: UInt32?)
    }

    /// The outputs of one event, in order: none or one almost always (a header block, one message per DATA
    /// frame, the end), so the first is stored inline and an event costs no array. Several messages in one
    /// DATA frame, or a message and the end, go on to an array.
    struct Outputs: RandomAccessCollection, Sendable {
        private var head: Output?
        private var rest: [Output] = []
        private var restIndex = 0
        /// The wire bytes of the messages among them, summed as they are added.
        private(set) var messageWireBytes = 0
        /// The end among them, if any, and its reset code.
        private(set) var end: (end: ClientStreamEnd, reset: UInt32?)?

        /// No output.
        init() {}

        /// One output.
        init(_ output: Output) { append(output) }

        var startIndex: Int { 0 }
        var endIndex: Int { head == nil ? 0 : 1 + rest.count - restIndex }

        subscript(position: Int) -> Output {
            if position == 0, let head { return head }
            return rest[restIndex + position - 1]
        }

        mutating func append(_ output: Output) {
            switch output {
            case .message(let message): messageWireBytes += message.wireBytes
            case .end(let streamEnd, let reset): end = (streamEnd, reset)
            case .headers: break
            }
            if head == nil { head = output } else { rest.append(output) }
        }

        /// Takes the first output out (moved, not copied); the summaries stay as they were.
        mutating func popFirst() -> Output? {
            guard let first = head.take() else { return nil }
            if restIndex < rest.count {
                head = rest[restIndex]
                restIndex += 1
            }
            return first
        }

        static func += (outputs: inout Outputs, more: Outputs) {
            for output in more { outputs.append(output) }
        }

        /// Moves each output out in turn: an indexed iteration would copy (and retain) every element twice.
        func makeIterator() -> Iterator {
            Iterator(head: head, rest: rest.makeIterator())
        }

        struct Iterator: IteratorProtocol {
            var head: Output?
            var rest: IndexingIterator<[Output]>

            mutating func next() -> Output? {
                if let first = head.take() { return first }
                return rest.next()
            }
        }
    }

    private(set) var phase: Phase = .awaitingHeaders
    private var deframer: InboundDeframer
    /// The response's `grpc-encoding`, once its headers arrived.
    var encoding: CompressionAlgorithm { deframer.encoding }
    let maxReceiveMessageBytes: Int

    init(maxReceiveMessageBytes: Int) {
        self.maxReceiveMessageBytes = maxReceiveMessageBytes
        deframer = InboundDeframer(maxMessageBytes: maxReceiveMessageBytes)
    }

    var isEnded: Bool { phase == .ended }

    /// Bytes of a message still arriving (0 once ended).
    var partialMessageBytes: Int { deframer.bufferedBytes }

    private static let cancelCode = StatusMapping.HTTP2ErrorCode.cancel.rawValue
    private static let protocolErrorCode = StatusMapping.HTTP2ErrorCode.protocolError.rawValue

    /// A complete header block (response headers, trailers-only or trailers).
    mutating func receiveHeaderBlock(_ fields: [HeaderField], endStream: Bool) -> Outputs {
        switch phase {
        case .ended:
            return Outputs()
        case .awaitingHeaders:
            switch GRPCHeaders.parseResponseHeaders(fields) {
            case .end(let status, let trailers):
                return end(ClientStreamEnd(status: status, trailers: trailers), reset: endStream ? nil : Self.cancelCode)
            case .headers(let metadata, let encoding):
                if endStream {
                    let (status, trailers) = GRPCHeaders.parseTrailers(fields)
                    return end(ClientStreamEnd(status: status, trailers: trailers), reset: nil)
                }
                deframer.encoding = encoding
                phase = .receivingMessages
                return Outputs(.headers(metadata))
            }
        case .receivingMessages:
            var (status, trailers) = GRPCHeaders.parseTrailers(fields)
            if deframer.hasPartialMessage {
                status = Status(code: .internalError, message: "response ended with a partial message")
            }
            return end(
                ClientStreamEnd(status: status, trailers: trailers),
                reset: endStream ? nil : Self.protocolErrorCode)
        }
    }

    /// DATA bytes.
    mutating func receiveData(_ bytes: UnsafeRawBufferPointer) -> Outputs {
        switch phase {
        case .ended:
            return Outputs()
        case .awaitingHeaders:
            return end(
                ClientStreamEnd(status: Status(code: .internalError, message: "DATA before response headers")),
                reset: Self.protocolErrorCode)
        case .receivingMessages:
            var outputs = Outputs()
            var wireBytes = 0
            // Messages that arrive whole go straight from the DATA frame to their payloads; only what is
            // left (the start of a message) is buffered.
            var rest = bytes
            do {
                while let message = try deframer.next(from: &rest, wireBytes: &wireBytes) {
                    outputs.append(.message(message))
                }
            } catch {
                outputs += end(ClientStreamEnd(status: error.status), reset: Self.cancelCode)
                return outputs
            }
            if rest.isEmpty { return outputs }
            deframer.append(rest)
            while true {
                do {
                    guard let message = try deframer.next(wireBytes: &wireBytes) else { return outputs }
                    outputs.append(.message(message))
                } catch {
                    outputs += end(ClientStreamEnd(status: error.status), reset: Self.cancelCode)
                    return outputs
                }
            }
        }
    }

    /// END_STREAM on a DATA frame: the server ended without trailers.
    mutating func receiveEndOfStream() -> Outputs {
        guard phase != .ended else { return Outputs() }
        return end(
            ClientStreamEnd(
                status: Status(code: .internalError, message: "server closed the stream without sending trailers")),
            reset: nil)
    }

    /// The HTTP/2 stream closed (RST_STREAM or a normal close) before the machine ended.
    mutating func streamClosed(errorCode: UInt32, requestSent: Bool) -> Outputs {
        guard phase != .ended else { return Outputs() }
        if errorCode == StatusMapping.HTTP2ErrorCode.refusedStream.rawValue {
            return end(
                ClientStreamEnd(status: StatusMapping.status(forRSTStreamCode: errorCode), neverReachedServer: true),
                reset: nil)
        }
        if errorCode == 0 {
            return end(
                ClientStreamEnd(
                    status: Status(code: .internalError, message: "stream closed without a status"),
                    neverReachedServer: !requestSent),
                reset: nil)
        }
        return end(
            ClientStreamEnd(status: StatusMapping.status(forRSTStreamCode: errorCode), neverReachedServer: !requestSent),
            reset: nil)
    }

    /// Ends the stream locally (deadline, cancellation, connection failure). Nil when already ended.
    mutating func fail(
        _ status: Status, neverReachedServer: Bool = false, connectionNeverEstablished: Bool = false, reset: UInt32? = nil
    ) -> Output? {
        end(
            ClientStreamEnd(status: status, neverReachedServer: neverReachedServer, connectionNeverEstablished: connectionNeverEstablished),
            reset: reset
        ).first
    }

    private mutating func end(_ streamEnd: ClientStreamEnd, reset: UInt32?) -> Outputs {
        guard phase != .ended else { return Outputs() }
        phase = .ended
        _ = deframer.dropPartialMessage()
        return Outputs(.end(streamEnd, reset: reset))
    }
}
