/// What a server transport learned from a stream's request headers.
public struct ServerRequestHead: Sendable {
    /// The `:path`, e.g. `/echo.Echo/Get`.
    public var path: String
    /// Custom request metadata (pseudo-headers and reserved gRPC headers removed).
    public var metadata: Metadata
    /// The deadline from `grpc-timeout`, on the monotonic clock; the transport enforces it.
    public var deadline: ContinuousClock.Instant?
    /// The compression the client used for request messages.
    public var requestEncoding: CompressionAlgorithm
    /// The compression used for response messages: chosen by the transport from `grpc-accept-encoding`.
    public var responseEncoding: CompressionAlgorithm
    /// The peer's address, e.g. `ipv4:127.0.0.1:51234` or `ipv6:[::1]:51234`.
    public var peer: String
    /// What only the transport knows about the call (for HTTP/2: TLS and the connection), if it says.
    public var transportInfo: (any ServerTransportInfo)?

    public init(
        path: String,
        metadata: Metadata = [:],
        deadline: ContinuousClock.Instant? = nil,
        requestEncoding: CompressionAlgorithm = .identity,
        responseEncoding: CompressionAlgorithm = .identity,
        peer: String = "",
        transportInfo: (any ServerTransportInfo)? = nil
    ) {
        self.path = path
        self.metadata = metadata
        self.deadline = deadline
        self.requestEncoding = requestEncoding
        self.responseEncoding = responseEncoding
        self.peer = peer
        self.transportInfo = transportInfo
    }
}

/// Facts about a call that only its transport knows, such as the TLS identity of the client. Each
/// transport defines one conforming type; a handler asks for it with `ServerContext.transportInfo(as:)`.
public protocol ServerTransportInfo: Sendable {}

/// One gRPC stream on the server side, already validated at the HTTP level (POST, gRPC content-type;
/// the transport answers anything else itself, e.g. HTTP 415).
///
/// `receive` from one task at a time, the sending methods from one task at a time.
public protocol ServerTransportStream: AnyObject, Sendable {
    /// The request head.
    var head: ServerRequestHead { get }
    /// The executor of the event loop that owns this stream, if the transport offers one. Handler tasks
    /// prefer it, so that they run on the loop thread without a hop.
    var preferredExecutor: (any TaskExecutor)? { get }
    /// The next request message (decompressed); `nil` once the client ended its side.
    /// Consuming a message returns its bytes to the HTTP/2 flow-control window.
    /// Throws `RPCError` when the stream was reset, its deadline passed, or a message is over the limit.
    func receive() async throws -> [UInt8]?
    /// Sends response headers with custom metadata. Optional: the first `send` or a `finish` sends
    /// headers if none were sent. Throws when the stream is gone.
    func sendHeaders(_ metadata: Metadata) async throws
    /// Sends one response message. Suspends while flow control lets no more be buffered.
    func send(_ message: [UInt8]) async throws
    /// Ends the stream with trailers carrying `status` (trailers-only when no headers were sent).
    /// Ignored when the stream has already ended.
    func finish(status: Status, trailers: Metadata)
    /// Registers `handler` to run once when the stream is cancelled by the peer (RST_STREAM), by its
    /// deadline, or by the connection closing before `finish`. Runs at once if that already happened.
    /// Not run after a normal `finish`.
    func onCancel(_ handler: @escaping @Sendable () -> Void)
}

/// Accepts connections and delivers their gRPC streams.
public protocol ServerTransport: Sendable {
    /// Starts listening and returns the port actually bound (useful when asked for port 0).
    /// `acceptStream` is called for each new stream, possibly on an event-loop thread: it must not block.
    /// Throws `RPCError` (UNAVAILABLE) naming the address when it cannot listen, e.g. the port is in use.
    func start(acceptStream: @escaping @Sendable (any ServerTransportStream) -> Void) async throws -> Int
    /// Stops accepting, sends GOAWAY, lets open streams finish (bounded by `gracePeriod`), then closes.
    func shutdownGracefully(gracePeriod: Duration) async
}
