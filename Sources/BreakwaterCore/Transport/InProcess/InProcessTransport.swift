/// A client transport and a server transport connected in memory, with no sockets: for tests,
/// interceptor and resilience work, and benchmarks of the call layers.
///
/// It honours the same contracts as the HTTP/2 transport where they matter to the layers above:
/// deadlines end a stream with DEADLINE_EXCEEDED (and cancel the server side), cancellation reaches the
/// server's `onCancel`, messages over the receive limits end the stream with RESOURCE_EXHAUSTED, and
/// metadata passes through unchanged. It has no flow control: sent messages queue without bound.
///
/// ```swift
/// let transport = InProcessTransport()
/// let server = GRPCServer(transport: transport.server, services: [EchoProvider()])
/// _ = try await server.start()
/// let client = GRPCClient(transport: transport.client)
/// ```
public final class InProcessTransport: Sendable {
    /// The client end; pass it to `GRPCClient`.
    public let client: Client
    /// The server end; pass it to `GRPCServer`.
    public let server: Server

    /// Creates a connected pair.
    /// - Parameters:
    ///   - maxRequestMessageBytes: the largest request message the server accepts (default 4 MiB).
    ///   - peer: the peer address the server sees.
    public init(maxRequestMessageBytes: Int = 4 * 1024 * 1024, peer: String = "in-process") {
        let hub = InProcessHub(maxRequestMessageBytes: maxRequestMessageBytes, peer: peer)
        client = Client(hub: hub)
        server = Server(hub: hub)
    }
}
