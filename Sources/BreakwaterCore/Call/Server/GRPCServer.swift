import Logging

/// A gRPC server: routes each stream its transport accepts to the registered handler, through the
/// server interceptors, in one task per call.
public final class GRPCServer: Sendable {
    private enum Phase {
        case idle
        case starting
        case running(port: Int)
        case stopped
    }

    private struct State {
        var phase: Phase = .idle
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
    }

    let transport: any ServerTransport
    let router: RPCRouter
    let interceptors: [any ServerInterceptor]
    /// Where calls the server ends itself are logged at debug (an unknown method, a handler's
    /// unexpected error), with the service, method and peer.
    public let logger: Logger
    private let tracker = HandlerTaskTracker()
    private let state = TSanMutex(State())

    /// Creates a server for `services`.
    /// - Parameters:
    ///   - transport: the transport that accepts streams.
    ///   - services: the services; a method registered by two services goes to the later one.
    ///   - interceptors: server interceptors, outermost first, applied to every call.
    ///   - logger: where calls the server ends itself are logged; by default nowhere.
    public convenience init(
        transport: any ServerTransport,
        services: [any RegistrableService],
        interceptors: [any ServerInterceptor] = [],
        logger: Logger = GRPCServer.silentLogger
    ) {
        var router = RPCRouter()
        for service in services { service.registerMethods(with: &router) }
        self.init(transport: transport, router: router, interceptors: interceptors, logger: logger)
    }

    /// Creates a server with a ready router.
    public init(
        transport: any ServerTransport, router: RPCRouter, interceptors: [any ServerInterceptor] = [],
        logger: Logger = GRPCServer.silentLogger
    ) {
        self.transport = transport
        self.router = router
        self.interceptors = interceptors
        self.logger = logger
    }

    /// A logger that drops everything, the default.
    public static let silentLogger = Logger(label: "breakwater.server", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The number of handlers running now.
    public var activeCalls: Int { tracker.running }

    /// Starts the transport; returns the port bound. Throws when the transport cannot listen, or when the
    /// server was already started.
    public func start() async throws -> Int {
        try state.withLock { s in
            guard case .idle = s.phase else {
                throw RPCError(code: .failedPrecondition, message: "The server was already started")
            }
            s.phase = .starting
        }
        let router = self.router
        let interceptors = self.interceptors
        let tracker = self.tracker
        let logger = self.logger
        do {
            let port = try await transport.start { stream in
                Self.accept(stream, router: router, interceptors: interceptors, tracker: tracker, logger: logger)
            }
            state.withLock { $0.phase = .running(port: port) }
            return port
        } catch {
            let waiters = state.withLock { s in
                s.phase = .stopped
                defer { s.stopWaiters = [] }
                return s.stopWaiters
            }
            for waiter in waiters { waiter.resume() }
            throw error
        }
    }

    /// Starts the server if needed and returns once it has shut down.
    public func serve() async throws {
        let mustStart = state.withLock { s in if case .idle = s.phase { true } else { false } }
        if mustStart { _ = try await start() }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let stopped = state.withLock { s -> Bool in
                if case .stopped = s.phase { return true }
                s.stopWaiters.append(c)
                return false
            }
            if stopped { c.resume() }
        }
    }

    /// Stops accepting calls, lets calls in flight finish within `gracePeriod` (the transport then cancels
    /// the rest), and returns once every handler task has ended.
    public func shutdownGracefully(gracePeriod: Duration = .seconds(30)) async {
        await transport.shutdownGracefully(gracePeriod: gracePeriod)
        await tracker.waitUntilIdle()
        let waiters = state.withLock { s in
            s.phase = .stopped
            defer { s.stopWaiters = [] }
            return s.stopWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private static func accept(
        _ stream: any ServerTransportStream,
        router: RPCRouter,
        interceptors: [any ServerInterceptor],
        tracker: HandlerTaskTracker,
        logger: Logger
    ) {
        let path = stream.head.path
        guard let route = router.route(forPath: path) else {
            logger.debug(
                "call rejected: method not implemented",
                metadata: ["path": "\(PeerText.excerpt(path))", "peer": "\(stream.head.peer)"])
            stream.finish(status: Status(code: .unimplemented, message: "method \(PeerText.excerpt(path)) not implemented"), trailers: [:])
            return
        }
        tracker.enter()
        let task = Task(executorPreference: stream.preferredExecutor) {
            await ServerCallRunner.run(stream: stream, route: route, interceptors: interceptors, logger: logger)
            tracker.leave()
        }
        stream.onCancel { task.cancel() }
    }
}
