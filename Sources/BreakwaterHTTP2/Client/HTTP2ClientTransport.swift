import BreakwaterCore

/// A gRPC client transport over HTTP/2 to one `host:port`: plaintext h2c with prior knowledge, or TLS
/// with ALPN `h2` when `configuration.tls` is set (the server is then verified by default).
///
/// One connection, opened lazily on the first stream, multiplexes every stream up to the server's
/// `MAX_CONCURRENT_STREAMS` (nghttp2 queues the rest in order). Connection failures end the waiting streams
/// with UNAVAILABLE naming the address; while the exponential backoff runs, new streams fail fast with the
/// same error, and when it ends the transport connects again by itself. Its ``connectivityState`` and
/// ``connectivityStateChanges(bufferingNewest:)`` show gRPC's connectivity states. All I/O runs on one
/// event loop of `group`.
public final class HTTP2ClientTransport: ClientTransport {
    /// The host given at creation: a name, an IPv4 address, or an IPv6 address (brackets optional).
    public let host: String
    /// The port given at creation.
    public let port: Int
    /// The configuration given at creation.
    public let configuration: Configuration
    /// The event loop that runs this transport's connections. Callers may prefer it as their task executor
    /// (`withTaskExecutorPreference`) so that their continuations resume without a thread hop.
    public let eventLoop: EventLoop
    private let manager: ClientConnectionManager

    /// Creates a transport; nothing is connected until the first stream.
    public init(host: String, port: Int, configuration: Configuration = .init(), group: EventLoopGroup = .shared) {
        self.host = host
        self.port = port
        self.configuration = configuration
        eventLoop = group.next()
        manager = ClientConnectionManager(loop: eventLoop, host: host, port: port, configuration: configuration)
    }

    /// Makes a stream. Its request headers go to the loop with the stream's first command (`send`,
    /// `finishSending`, or `next` when it has to wait), so that a unary call crosses threads once; its
    /// deadline timer is armed then. A stream cancelled before any command never reaches the network.
    /// Never throws: failures end the stream.
    public func makeStream(head: ClientRequestHead) async -> any ClientTransportStream {
        if let failure = eventLoop.startFailure { return FailedClientStream(status: failure.status) }
        if eventLoop.isStopped {
            return FailedClientStream(status: Status(code: .unavailable, message: "event loop \(eventLoop.name) is shut down"))
        }
        var head = head
        head.maxReceiveMessageBytes = min(head.maxReceiveMessageBytes, configuration.maxReceiveMessageBytes)
        return ClientStream(head: head, loop: eventLoop, manager: manager)
    }

    /// The connectivity state of the transport's connection to its target now (gRPC's states).
    public var connectivityState: ConnectivityState { manager.connectivityState }

    /// The connectivity state's changes from now on, in order: IDLE to CONNECTING on the first call,
    /// READY once the server's SETTINGS arrived, TRANSIENT_FAILURE (with the connect error) after a failed
    /// attempt, CONNECTING again by itself when the backoff ends, IDLE when a connection is lost, and
    /// SHUTDOWN last (the stream then ends).
    ///
    /// - Parameter limit: Changes buffered for a slow reader; past it the oldest are dropped.
    public func connectivityStateChanges(bufferingNewest limit: Int = 64) -> AsyncStream<ConnectivityStateChange> {
        manager.connectivityStateChanges(bufferingNewest: limit)
    }

    deinit {
        // A transport dropped without `close()` still closes its connections (gracefully).
        let manager = self.manager
        if eventLoop.startFailure == nil { eventLoop.execute { manager.close(nil) } }
    }

    /// Closes gracefully: new streams fail with UNAVAILABLE, open streams finish, then connections close.
    public func close() async {
        guard eventLoop.startFailure == nil, !eventLoop.isStopped else { return }
        let manager = self.manager
        await withCheckedContinuation { continuation in
            eventLoop.execute { manager.close(continuation) }
        }
    }
}
