import BreakwaterCore

/// A gRPC client transport over HTTP/2 to one `host:port`, or to the endpoints of a ``ClientTarget``
/// (`dns:///host:port`, `ipv4:a:p,b:p`, `unix:/path`, a resolver of one's own) with load balancing:
/// plaintext h2c with prior knowledge, or TLS with ALPN `h2` when `configuration.tls` is set (the server
/// is then verified by default).
///
/// With a target, each endpoint gets its own connection (a subchannel, with the connection life below)
/// and each call goes to the one the `LoadBalancingConfig` picks among those ready and not ejected; see
/// <doc:SeveralBackends>.
///
/// One connection, opened lazily on the first stream, multiplexes every stream up to the server's
/// `MAX_CONCURRENT_STREAMS` (nghttp2 queues the rest in order). Connection failures end the waiting streams
/// with UNAVAILABLE naming the address; while the exponential backoff runs, new streams fail fast with the
/// same error, and when it ends the transport connects again by itself. Its ``connectivityState`` and
/// ``connectivityStateChanges(bufferingNewest:)`` show gRPC's connectivity states. All I/O runs on one
/// event loop of `group`.
public final class HTTP2ClientTransport: ClientTransport {
    /// The host given at creation: a name, an IPv4 address, or an IPv6 address (brackets optional). With a
    /// target: the target's text.
    public let host: String
    /// The port given at creation; 0 with a target.
    public let port: Int
    /// The target given at creation; nil for `host:port`.
    public let target: ClientTarget?
    /// How calls are spread over the target's endpoints (pick_first for `host:port`).
    public let loadBalancing: LoadBalancingConfig
    /// The configuration given at creation.
    public let configuration: Configuration
    /// The event loop that runs this transport's connections. Callers may prefer it as their task executor
    /// (`withTaskExecutorPreference`) so that their continuations resume without a thread hop.
    public let eventLoop: EventLoop
    private let router: Router

    /// One connection manager (`host:port`), or a balancer over several.
    private enum Router {
        case single(ClientConnectionManager)
        case balanced(LoadBalancer)

        var streamRouter: any ClientStreamRouter {
            switch self {
            case .single(let manager): manager
            case .balanced(let balancer): balancer
            }
        }
    }

    /// Creates a transport; nothing is connected until the first stream.
    public init(host: String, port: Int, configuration: Configuration = .init(), group: EventLoopGroup = .shared) {
        self.host = host
        self.port = port
        self.target = nil
        self.loadBalancing = .pickFirst
        self.configuration = configuration
        eventLoop = group.next()
        router = .single(ClientConnectionManager(loop: eventLoop, host: host, port: port, configuration: configuration))
    }

    /// Creates a transport to the endpoints of `target`, spread by `loadBalancing` (pick_first by
    /// default; a service config's `loadBalancingConfig` gives one). Nothing is resolved or connected
    /// until the first stream.
    public init(
        target: ClientTarget, loadBalancing: LoadBalancingConfig = .pickFirst, configuration: Configuration = .init(),
        group: EventLoopGroup = .shared
    ) {
        self.host = target.description
        self.port = 0
        self.target = target
        self.loadBalancing = loadBalancing
        self.configuration = configuration
        eventLoop = group.next()
        router = .balanced(LoadBalancer(loop: eventLoop, target: target, config: loadBalancing, configuration: configuration))
    }

    /// Creates a transport to the target `target` in gRPC's syntax (`dns:///localhost:50051`,
    /// `ipv4:127.0.0.1:50051,127.0.0.2:50051`, `unix:/run/echo.sock`, ...). Throws INVALID_ARGUMENT for
    /// a target it cannot parse, or an invalid `loadBalancing`.
    public convenience init(
        target: String, loadBalancing: LoadBalancingConfig = .pickFirst, configuration: Configuration = .init(),
        group: EventLoopGroup = .shared
    ) throws(RPCError) {
        if let reason = loadBalancing.invalidReason {
            throw RPCError(code: .invalidArgument, message: "invalid load balancing configuration: \(reason)")
        }
        self.init(target: try ClientTarget(target), loadBalancing: loadBalancing, configuration: configuration, group: group)
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
        return ClientStream(
            head: head, loop: eventLoop, router: router.streamRouter, receiveBufferBytes: configuration.streamReceiveBufferBytes)
    }

    /// The connectivity state of the transport's connection to its target now (gRPC's states). With a
    /// target: READY when some endpoint is ready and not ejected, CONNECTING while resolving or connecting,
    /// TRANSIENT_FAILURE when every endpoint fails.
    public var connectivityState: ConnectivityState {
        switch router {
        case .single(let manager): manager.connectivityState
        case .balanced(let balancer): balancer.connectivityState
        }
    }

    /// The connectivity state's changes from now on, in order: IDLE to CONNECTING on the first call,
    /// READY once the server's SETTINGS arrived, TRANSIENT_FAILURE (with the connect error) after a failed
    /// attempt, CONNECTING again by itself when the backoff ends, IDLE when a connection is lost, and
    /// SHUTDOWN last (the stream then ends).
    ///
    /// - Parameter limit: Changes buffered for a slow reader; past it the oldest are dropped.
    public func connectivityStateChanges(bufferingNewest limit: Int = 64) -> AsyncStream<ConnectivityStateChange> {
        switch router {
        case .single(let manager):
            return manager.connectivityStateChanges(bufferingNewest: limit)
        case .balanced(let balancer):
            return balancer.connectivityStateChanges(bufferingNewest: limit)
        }
    }

    /// Each endpoint now: its connection's state, whether it is ejected and until when, its calls in
    /// flight and its recent failure rate. For `host:port`, the one connection.
    public func endpointSnapshots() async -> [EndpointSnapshot] {
        guard eventLoop.startFailure == nil, !eventLoop.isStopped else { return [] }
        switch router {
        case .single(let manager):
            return [
                EndpointSnapshot(
                    endpoint: Endpoint(host: host, port: port), connectivity: manager.connectivityState, ejectedUntil: nil,
                    recentEjections: 0, outstandingCalls: 0, totalCalls: 0, recentFailureRate: nil, serving: nil)
            ]
        case .balanced(let balancer):
            return await withCheckedContinuation { continuation in
                eventLoop.execute { continuation.resume(returning: balancer.snapshots) }
            }
        }
    }

    /// What happens to the endpoints from now on: added and removed by resolutions, their connections'
    /// state changes, ejections and returns. Ends when the transport closes; empty for `host:port`.
    ///
    /// - Parameter limit: Events buffered for a slow reader; past it the oldest are dropped.
    public func endpointEvents(bufferingNewest limit: Int = 256) -> AsyncStream<EndpointEvent> {
        switch router {
        case .single:
            return AsyncStream { $0.finish() }
        case .balanced(let balancer):
            return balancer.endpointEvents(bufferingNewest: limit)
        }
    }

    deinit {
        // A transport dropped without `close()` still closes its connections (gracefully).
        guard eventLoop.startFailure == nil else { return }
        switch router {
        case .single(let manager): eventLoop.execute { manager.close(nil) }
        case .balanced(let balancer): eventLoop.execute { balancer.close() }
        }
    }

    /// Closes gracefully: new streams fail with UNAVAILABLE, open streams finish, then connections close.
    public func close() async {
        guard eventLoop.startFailure == nil, !eventLoop.isStopped else { return }
        let loop = eventLoop
        switch router {
        case .single(let manager):
            await withCheckedContinuation { continuation in
                loop.execute { manager.close(continuation) }
            }
        case .balanced(let balancer):
            let managers = await withCheckedContinuation { continuation in
                loop.execute { continuation.resume(returning: balancer.close()) }
            }
            for manager in managers {
                await withCheckedContinuation { continuation in
                    loop.execute { manager.close(continuation) }
                }
            }
        }
    }
}
