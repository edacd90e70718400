@_spi(Locking) import BreakwaterCore
import BreakwaterWire
import CBreakwaterPOSIX
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A gRPC server transport over HTTP/2: plaintext h2c with prior knowledge, or TLS with ALPN `h2` when
/// `configuration.tls` is set.
///
/// Listens on one address (TCP, or a Unix domain socket with ``init(unixPath:abstract:configuration:group:)``),
/// accepts on one event loop and spreads connections over the group's loops.
/// Each request is validated (`GRPCHeaders.parseRequest`): a wrong method or content-type gets a plain
/// HTTP response (405, 415), other header problems a trailers-only gRPC status; valid requests become
/// `ServerTransportStream`s whose `preferredExecutor` is the loop that owns them. The transport enforces
/// `grpc-timeout`, the receive limit and HTTP/2 flow control.
public final class HTTP2ServerTransport: ServerTransport {
    /// The host to listen on (an IPv4 or IPv6 address, or a name); a Unix domain socket's path or name.
    public let host: String
    /// The port asked for; 0 lets the system choose (see the value returned by `start`). 0 for a Unix
    /// domain socket.
    public let port: Int
    /// Whether the transport listens on a Unix domain socket (`host` is then its path, or its name in
    /// the abstract namespace when ``isAbstractUnixSocket``).
    public let isUnixSocket: Bool
    /// Whether the Unix domain socket's name is in Linux's abstract namespace (no file).
    public let isAbstractUnixSocket: Bool
    /// The configuration given at creation.
    public let configuration: Configuration
    private let group: EventLoopGroup

    private struct State {
        var listener: Listener?
        var context: ServerTransportContext?
        var started = false
    }
    private let state = TSanMutex(State())
    /// Tests only: enforce every flood protection in the transport, as with a libnghttp2 that has none.
    let forcingProtectionFallbacks: Bool

    /// Creates a server transport; nothing listens until `start`.
    public convenience init(host: String = "127.0.0.1", port: Int, configuration: Configuration = .init(), group: EventLoopGroup = .shared) {
        self.init(host: host, port: port, configuration: configuration, group: group, forcingProtectionFallbacks: false)
    }

    /// Creates a server transport on a Unix domain socket: a filesystem path (a socket file an earlier
    /// server left there is replaced, and the file is removed when the listener closes), or with
    /// `abstract` a name in Linux's abstract namespace. Clients reach it as `unix:<path>` or
    /// `unix-abstract:<name>`. `start` returns 0.
    public convenience init(
        unixPath: String, abstract: Bool = false, configuration: Configuration = .init(), group: EventLoopGroup = .shared
    ) {
        self.init(
            host: unixPath, port: 0, unix: abstract ? .abstract : .path, configuration: configuration, group: group,
            forcingProtectionFallbacks: false)
    }

    enum UnixKind { case path, abstract }

    init(
        host: String, port: Int, unix: UnixKind? = nil, configuration: Configuration, group: EventLoopGroup,
        forcingProtectionFallbacks: Bool
    ) {
        self.host = host
        self.port = port
        self.isUnixSocket = unix != nil
        self.isAbstractUnixSocket = unix == .abstract
        self.configuration = configuration
        self.group = group
        self.forcingProtectionFallbacks = forcingProtectionFallbacks
    }

    /// Starts listening; returns the bound port. Throws UNAVAILABLE naming the address when it cannot, and
    /// INVALID_ARGUMENT with OpenSSL's reason when the TLS certificate or key cannot be loaded.
    public func start(acceptStream: @escaping @Sendable (any ServerTransportStream) -> Void) async throws -> Int {
        let alreadyStarted = state.withLock { s -> Bool in
            defer { s.started = true }
            return s.started
        }
        if alreadyStarted {
            throw RPCError(code: .failedPrecondition, message: "server transport already started")
        }
        guard (0...65535).contains(port) else {
            throw RPCError(code: .invalidArgument, message: "port \(port) is outside 0...65535")
        }
        if let reason = configuration.invalidReason {
            throw RPCError(code: .invalidArgument, message: "invalid server configuration: \(reason)")
        }
        if let failure = group.loops.lazy.compactMap(\.startFailure).first { throw failure }
        if group.loops.contains(where: \.isStopped) {
            throw RPCError(code: .unavailable, message: "the event loop group is shut down")
        }
        var tlsContext: TLSContext?
        if let tls = configuration.tls {
            switch TLSContext.server(tls) {
            case .success(let context): tlsContext = context
            case .failure(let error): throw error
            }
        }
        let address: SocketAddress
        if isUnixSocket {
            guard let unix = SocketAddress(unixPath: host, abstract: isAbstractUnixSocket) else {
                throw RPCError(code: .invalidArgument, message: "not a usable Unix domain socket path: \(host)")
            }
            address = unix
        } else {
            switch await SocketAddress.resolve(host: host, port: port) {
            case .success(let addresses):
            guard let first = addresses.first else {
                    throw RPCError(code: .unavailable, message: "cannot resolve \(host):\(port)")
                }
                address = first
            case .failure(let error):
                throw error
            }
        }
        let fd: Int32
        switch Socket.listen(on: address) {
        case .success(let listening): fd = listening
        case .failure(let error): throw error
        }
        let boundPort = Socket.localAddress(fd)?.port ?? port
        let context = ServerTransportContext(
            configuration: configuration, tls: tlsContext, forcingProtectionFallbacks: forcingProtectionFallbacks,
            acceptStream: acceptStream)
        let loop = group.next()
        let ownedPath = isUnixSocket && !isAbstractUnixSocket ? host : nil
        let listener = Listener(fd: fd, loop: loop, group: group, context: context, socketFile: ownedPath)
        state.withLock { s in
            s.listener = listener
            s.context = context
        }
        let registered = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            loop.execute { c.resume(returning: loop.register(fd: fd, interest: .readable, handler: listener)) }
        }
        guard registered else {
            Glibc.close(fd)
            if let ownedPath { Socket.removeStaleSocketFile(ownedPath) }
            throw RPCError(code: .unavailable, message: "cannot watch listening socket: \(address)")
        }
        return boundPort
    }

    /// Received bytes the server's streams hold for their handlers, over all connections (tests, figures).
    var heldReceiveBytes: Int { state.withLock { $0.context?.heldReceiveBytes ?? 0 } }

    /// Stops accepting (the listening socket closes), sends GOAWAY on every connection, lets open streams
    /// finish for up to `gracePeriod`, then closes what is left.
    public func shutdownGracefully(gracePeriod: Duration) async {
        let (listener, context) = state.withLock { s in (s.listener, s.context) }
        // A stopped group has closed the listener and every connection already.
        guard let context, !group.loops.contains(where: \.isStopped) else { return }
        if let listener {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                listener.loop.execute {
                    listener.close()
                    c.resume()
                }
            }
        }
        let graceDeadline = ContinuousClock.now + gracePeriod
        for connection in context.beginShutdown(graceDeadline: graceDeadline) {
            connection.loop.execute { connection.beginShutdown(graceDeadline: graceDeadline) }
        }
        await context.waitForDrain()
    }
}
