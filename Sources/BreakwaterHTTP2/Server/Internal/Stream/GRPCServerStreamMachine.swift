import BreakwaterCore
import BreakwaterWire

/// One server stream's protocol state as a value: the request's messages and end, the response's
/// headers, messages and trailers, and the close of the HTTP/2 stream. It knows nothing of nghttp2 or
/// of the handler; `ServerStream` feeds it and carries out what it returns.
struct GRPCServerStreamMachine: Sendable {
    enum Response: Sendable, Equatable {
        /// Nothing sent yet: an end now is trailers-only.
        case notStarted
        /// Response headers submitted; messages may follow.
        case open
        /// The status is decided (trailers submitted or waiting for the queued messages).
        case finished
    }

    /// Trailers waiting for the queued response messages to go out.
    enum PendingTrailers: Sendable {
        case fields([HeaderField])
        /// The connection's OK trailers (no message, no metadata).
        case ok
    }

    /// What ending the response takes.
    enum FinishAction: Sendable {
        /// Nothing: it has ended already (or the stream is closed).
        case none
        /// One header block with the status: no response headers went out.
        case trailersOnly([HeaderField])
        /// The trailers wait in `pendingTrailers` until the queued messages are out.
        case trailersAfterMessages
    }

    /// What the end of the request means.
    enum RequestEnd: Sendable {
        /// The response has ended already: nothing to tell anyone.
        case ignored
        /// The handler sees the end after the messages already queued.
        case endOfMessages
        /// The last message was cut short: the call ends with this status.
        case truncated(Status)
    }

    private(set) var response: Response = .notStarted
    /// The client sent END_STREAM.
    private(set) var requestEnded = false
    /// The HTTP/2 stream is closed: nothing more goes out.
    private(set) var closed = false
    private(set) var pendingTrailers: PendingTrailers?
    private(set) var deframer: InboundDeframer

    init(maxReceiveMessageBytes: Int, requestEncoding: CompressionAlgorithm) {
        deframer = InboundDeframer(maxMessageBytes: maxReceiveMessageBytes, encoding: requestEncoding)
    }

    /// Whether the response has ended or the stream closed: received bytes are only counted and dropped.
    var isFinished: Bool { response == .finished || closed }
    /// Whether to tell the client to stop sending (RST_STREAM NO_ERROR) once the trailers are out, as gRPC
    /// servers do when the response ends while the request is still open.
    var resetsAfterTrailers: Bool { response == .finished && !requestEnded }

    // MARK: Request

    /// DATA arrived; false when the response has ended (the bytes are not for anyone).
    mutating func receiveData(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !isFinished else { return false }
        deframer.append(bytes)
        return true
    }

    /// The next whole request message, nil when more bytes are needed; throws the status the call ends with.
    mutating func nextMessage(wireBytes: inout Int) throws(RPCError) -> InboundMessage? {
        try deframer.next(wireBytes: &wireBytes)
    }

    /// The client ended its side.
    mutating func receiveEndOfStream() -> RequestEnd {
        requestEnded = true
        guard !isFinished else { return .ignored }
        if deframer.hasPartialMessage {
            return .truncated(Status(code: .internalError, message: "request ended with a partial message"))
        }
        return .endOfMessages
    }

    /// Drops a message still arriving; returns its bytes.
    mutating func dropPartialMessage() -> Int {
        deframer.dropPartialMessage()
    }

    // MARK: Response

    /// Headers are to go out now (explicitly, or before the first message); false when they went out
    /// already or the response cannot start.
    mutating func startResponse() -> Bool {
        guard response == .notStarted, !closed else { return false }
        response = .open
        return true
    }

    /// Whether a response message may still be queued.
    var acceptsMessages: Bool { !isFinished }

    /// Ends the response with `status` and `trailers`.
    mutating func finish(status: Status, trailers: Metadata) -> FinishAction {
        guard !isFinished else { return .none }
        let started = response == .open
        response = .finished
        guard started else {
            return .trailersOnly(GRPCHeaders.trailers(status: status, metadata: trailers, trailersOnly: true))
        }
        if status.code == .ok && status.message.isEmpty && trailers.isEmpty {
            pendingTrailers = .ok
        } else {
            pendingTrailers = .fields(GRPCHeaders.trailers(status: status, metadata: trailers, trailersOnly: false))
        }
        return .trailersAfterMessages
    }

    /// nghttp2 has taken every queued message: the trailers to submit now, if they wait.
    mutating func takeTrailers() -> PendingTrailers? {
        defer { pendingTrailers = nil }
        return pendingTrailers
    }

    /// The HTTP/2 stream closed (normally, by RST_STREAM, or with the connection). Returns whether the
    /// response had not ended (the handler must then hear that the call is over).
    mutating func streamClosed() -> Bool {
        let wasFinished = response == .finished
        closed = true
        pendingTrailers = nil
        return !wasFinished
    }
}
