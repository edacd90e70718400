/// What a server handler (and a server interceptor) knows about its call, and how it sets the response
/// metadata.
///
/// Response headers are sent with the first response message (or at the end, or by `sendHeaders()`);
/// changes to `responseHeaders` after that have no effect. Trailers are sent when the call ends, merged
/// with the metadata of a thrown `RPCError`.
public final class ServerContext: Sendable {
    /// The method called.
    public let descriptor: MethodDescriptor
    /// The kind of call.
    public let kind: CallKind
    /// The client's custom request metadata.
    public let requestMetadata: Metadata
    /// The call's deadline (from `grpc-timeout`), on the monotonic clock; the transport enforces it and
    /// cancels the handler's task when it passes.
    public let deadline: ContinuousClock.Instant?
    /// The client's address, e.g. `ipv4:127.0.0.1:51234`.
    public let peer: String
    /// What only the transport knows about the call; see `transportInfo(as:)`.
    public let transportInfo: (any ServerTransportInfo)?

    private struct State {
        var headers: Metadata = [:]
        var trailers: Metadata = [:]
        var headersSent = false
        var responseMessageObserver: (@Sendable (Int) -> Void)?
    }

    let stream: any ServerTransportStream
    private let state = TSanMutex(State())

    init(descriptor: MethodDescriptor, kind: CallKind, stream: any ServerTransportStream) {
        let head = stream.head
        self.descriptor = descriptor
        self.kind = kind
        self.requestMetadata = head.metadata
        self.deadline = head.deadline
        self.peer = head.peer
        self.transportInfo = head.transportInfo
        self.stream = stream
    }

    /// The transport's facts about the call as `type` (for `HTTP2ServerTransport`: `HTTP2ConnectionInfo`,
    /// with the client's TLS certificate subject), or nil when the call came through another transport.
    public func transportInfo<Info: ServerTransportInfo>(as type: Info.Type) -> Info? {
        transportInfo as? Info
    }

    /// The custom metadata of the response headers. Setting it after the headers were sent has no effect.
    public var responseHeaders: Metadata {
        get { state.withLock { $0.headers } }
        set { state.withLock { if !$0.headersSent { $0.headers = newValue } } }
    }

    /// The custom metadata of the trailers, sent when the call ends.
    public var responseTrailers: Metadata {
        get { state.withLock { $0.trailers } }
        set { state.withLock { $0.trailers = newValue } }
    }

    /// The compression the client applied to its request messages (`grpc-encoding`); `.identity` when it
    /// sent none. Handlers see messages already decompressed.
    public var requestEncoding: CompressionAlgorithm { stream.head.requestEncoding }

    /// The compression the transport applies to response messages, chosen from the request's encoding
    /// and `grpc-accept-encoding`.
    public var responseEncoding: CompressionAlgorithm { stream.head.responseEncoding }

    /// Whether the response headers were sent.
    public var headersSent: Bool { state.withLock { $0.headersSent } }

    /// Sends the response headers now, if they were not sent yet.
    public func sendHeaders() async throws {
        try await ensureHeadersSent(explicitly: true)
    }

    /// Marks the headers sent and sends them when they carry metadata (or `explicitly`); otherwise the
    /// transport sends empty headers with the first message.
    func ensureHeadersSent(explicitly: Bool) async throws {
        let headers = state.withLock { s -> Metadata? in
            if s.headersSent { return nil }
            s.headersSent = true
            return s.headers
        }
        if let headers, explicitly || !headers.isEmpty {
            try await stream.sendHeaders(headers)
        }
    }

    /// Calls `observer` with the size in bytes of each response message the handler sends (serialized,
    /// before compression), on the sending task, before it is sent; for interceptors that measure (a
    /// metrics interceptor). A later call adds its observer after the earlier ones.
    public func observeResponseMessages(_ observer: @escaping @Sendable (_ bytes: Int) -> Void) {
        state.withLock { s in
            if let earlier = s.responseMessageObserver {
                s.responseMessageObserver = { bytes in
                    earlier(bytes)
                    observer(bytes)
                }
            } else {
                s.responseMessageObserver = observer
            }
        }
    }

    /// Sends one serialized response message, after the headers. The one lock taken here also reads the
    /// response observer, so observing costs no lock of its own.
    func send(_ message: [UInt8]) async throws {
        let (headers, observer) = state.withLock { s -> (Metadata?, (@Sendable (Int) -> Void)?) in
            if s.headersSent { return (nil, s.responseMessageObserver) }
            s.headersSent = true
            return (s.headers, s.responseMessageObserver)
        }
        if let headers, !headers.isEmpty {
            try await stream.sendHeaders(headers)
        }
        observer?(message.count)
        try await stream.send(message)
    }

    /// Ends the call with `status`, sending the trailers plus `extraTrailers`.
    func finish(status: Status, extraTrailers: Metadata = [:]) {
        var trailers = state.withLock { s in
            s.headersSent = true
            return s.trailers
        }
        trailers.add(contentsOf: extraTrailers)
        stream.finish(status: status, trailers: trailers)
    }
}
