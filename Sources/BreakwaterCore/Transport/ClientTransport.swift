/// What a client transport needs to open one gRPC stream.
public struct ClientRequestHead: Sendable {
    /// The method called; the transport sends `method.path` as `:path`.
    public var method: MethodDescriptor
    /// Custom request metadata (never pseudo-headers or reserved gRPC headers).
    public var metadata: Metadata
    /// When the call must end. The transport sends the remaining time as `grpc-timeout`, and when the
    /// deadline passes it resets the stream (RST_STREAM CANCEL) and ends it with DEADLINE_EXCEEDED.
    public var deadline: ContinuousClock.Instant?
    /// The compression applied to outbound messages (`grpc-encoding`).
    public var compression: CompressionAlgorithm
    /// The largest inbound message accepted; a larger one ends the stream with RESOURCE_EXHAUSTED.
    public var maxReceiveMessageBytes: Int
    /// Wait for a ready connection while the transport is in TRANSIENT_FAILURE, instead of failing at
    /// once (``CallOptions/waitForReady``); the deadline still applies.
    public var waitForReady: Bool
    /// The stream probes a target that failed lately (``CallOptions/isProbe``): send it only over a
    /// connection that has just shown it is alive, and connect at once rather than wait out a backoff.
    public var isProbe: Bool

    public init(
        method: MethodDescriptor,
        metadata: Metadata = [:],
        deadline: ContinuousClock.Instant? = nil,
        compression: CompressionAlgorithm = .identity,
        maxReceiveMessageBytes: Int = 4 * 1024 * 1024,
        waitForReady: Bool = false,
        isProbe: Bool = false
    ) {
        self.method = method
        self.metadata = metadata
        self.deadline = deadline
        self.compression = compression
        self.maxReceiveMessageBytes = maxReceiveMessageBytes
        self.waitForReady = waitForReady
        self.isProbe = isProbe
    }
}

/// How a client stream ended.
public struct ClientStreamEnd: Sendable {
    /// The call's status: from `grpc-status`/`grpc-message`, or synthesized from the HTTP status, a
    /// RST_STREAM code, a deadline, a cancellation or a connection failure.
    public var status: Status
    /// Trailing metadata (empty when the stream ended without trailers).
    public var trailers: Metadata
    /// True when the server is known never to have seen the request (connection failed before the
    /// stream was sent, REFUSED_STREAM, or a GOAWAY whose last-stream-id is below this stream), so
    /// a transparent retry is safe.
    public var neverReachedServer: Bool
    /// True when the call failed because no connection could be made (refused, timed out, or the
    /// transport in TRANSIENT_FAILURE). Such a call never reached the server either, but retrying it at
    /// once would only try the same dead address again: it is not retried transparently, and a retry
    /// policy's attempts are the only retries it gets.
    public var connectionNeverEstablished: Bool

    /// Creates a stream end.
    public init(
        status: Status, trailers: Metadata = [:], neverReachedServer: Bool = false, connectionNeverEstablished: Bool = false
    ) {
        self.status = status
        self.trailers = trailers
        self.neverReachedServer = neverReachedServer || connectionNeverEstablished
        self.connectionNeverEstablished = connectionNeverEstablished
    }
}

/// One event on the inbound side of a client stream, in order: at most one `.headers`, any number
/// of `.message`, exactly one `.end` (a trailers-only response gives `.end` without `.headers`).
public enum ClientStreamEvent: Sendable {
    /// Response headers (`:status 200`, valid `content-type`) as custom metadata.
    case headers(Metadata)
    /// One whole response message, already decompressed.
    case message([UInt8])
    /// The end of the stream.
    case end(ClientStreamEnd)
}

/// One open gRPC stream on the client side.
///
/// `send` may be called from one task at a time; `next` from one task at a time (may be a different one);
/// `cancel` from anywhere, any number of times.
public protocol ClientTransportStream: AnyObject, Sendable {
    /// Sends one request message (framed, compressed as the head says), ending the request side when
    /// `endStream` is true. Suspends while HTTP/2 flow control lets no more be buffered.
    /// Throws an `RPCError` when the stream has already ended (its status is then also seen by `next`).
    func send(_ message: [UInt8], endStream: Bool) async throws
    /// Ends the request side without a message (END_STREAM). Idempotent.
    func finishSending()
    /// The next inbound event; `nil` after `.end` was returned. Never throws: every failure is an `.end`.
    /// Cancelling the calling task cancels the stream (as `cancel()`).
    func next() async -> ClientStreamEvent?
    /// The next inbound event if it is already there, taken as `next` would take it, without suspending;
    /// ``ClientStreamPoll/notReady`` when `next` would wait. The same reader rule as for `next` applies.
    ///
    /// Readers call it before `next`, so that an event already received costs no suspension point (a
    /// streaming response read as fast as it arrives finds most of its messages queued). The default
    /// answers `.notReady`: a transport without a fast path loses nothing but this call.
    func nextIfReady() -> ClientStreamPoll
    /// Cancels the stream: sends RST_STREAM CANCEL if it is open; `next` then yields `.end` with
    /// CANCELLED (unless it had already ended). Idempotent.
    func cancel()
}

extension ClientTransportStream {
    /// Answers `.notReady`: every event comes from `next`.
    public func nextIfReady() -> ClientStreamPoll { .notReady }
}

/// Opens gRPC streams to one target. Implemented by `BreakwaterHTTP2`, and by in-memory transports in tests.
public protocol ClientTransport: Sendable {
    /// Opens a stream. Its request headers go out no later than its first `send`, `finishSending` or
    /// `next` (a transport may hold them back to send them together with the first message). Never throws
    /// for connection failures: a stream that cannot be opened ends with UNAVAILABLE (naming the address)
    /// through its `next()`.
    func makeStream(head: ClientRequestHead) async -> any ClientTransportStream
    /// Closes all connections: new streams fail with UNAVAILABLE, open streams finish first.
    func close() async
}
