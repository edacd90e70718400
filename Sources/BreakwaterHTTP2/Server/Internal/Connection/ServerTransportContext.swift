@_spi(Locking) import BreakwaterCore

/// What every connection of one `HTTP2ServerTransport` shares: the configuration, the accept callback,
/// and the registry of open connections used by graceful shutdown.
final class ServerTransportContext: Sendable {
    private struct State {
        var connections: [ObjectIdentifier: ServerConnection] = [:]
        var shuttingDown = false
        var graceDeadline: ContinuousClock.Instant?
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
    }

    let configuration: HTTP2ServerTransport.Configuration
    let acceptStream: @Sendable (any ServerTransportStream) -> Void
    /// The TLS context when the server is secure.
    let tls: TLSContext?
    /// Tests only: enforce every flood protection in the transport, as with a libnghttp2 that has none.
    let forcingProtectionFallbacks: Bool
    /// Connection counts, when the configuration has a metrics factory.
    private let metrics: ServerConnectionMetrics?
    private let state = TSanMutex(State())

    init(
        configuration: HTTP2ServerTransport.Configuration, tls: TLSContext? = nil, forcingProtectionFallbacks: Bool = false,
        acceptStream: @escaping @Sendable (any ServerTransportStream) -> Void
    ) {
        self.configuration = configuration
        self.tls = tls
        self.forcingProtectionFallbacks = forcingProtectionFallbacks
        self.acceptStream = acceptStream
        self.metrics = ServerConnectionMetrics(factory: configuration.metricsFactory)
    }

    /// What becomes of an accepted connection.
    enum Admission {
        case admitted
        /// The server is shutting down: close at once.
        case shuttingDown
        /// `maxConnections` are open: tell the client and close.
        case overLimit
    }

    var isShuttingDown: Bool { state.withLock { $0.shuttingDown } }
    var graceDeadline: ContinuousClock.Instant? { state.withLock { $0.graceDeadline } }

    /// Registers an accepted connection, unless the server is shutting down or full.
    func add(_ connection: ServerConnection) -> Admission {
        let admission = state.withLock { s -> Admission in
            if s.shuttingDown { return .shuttingDown }
            if s.connections.count >= configuration.maxConnections { return .overLimit }
            s.connections[ObjectIdentifier(connection)] = connection
            return .admitted
        }
        if let metrics {
            switch admission {
            case .admitted:
                metrics.accepted.increment()
                metrics.open.increment()
            case .overLimit: metrics.refusedOverLimit.increment()
            case .shuttingDown: metrics.refusedShuttingDown.increment()
            }
        }
        return admission
    }

    /// The number of open connections.
    var connectionCount: Int { state.withLock { $0.connections.count } }

    /// Received bytes the open connections' streams hold for their handlers, over all connections.
    var heldReceiveBytes: Int {
        state.withLock { s in s.connections.values.reduce(0) { $0 + $1.session.receiveBudget.heldBytes } }
    }

    func connectionClosed(_ connection: ServerConnection) {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            if s.connections.removeValue(forKey: ObjectIdentifier(connection)) != nil { metrics?.open.decrement() }
            guard s.shuttingDown, s.connections.isEmpty else { return [] }
            let w = s.drainWaiters
            s.drainWaiters.removeAll()
            return w
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Marks the server as shutting down and returns the open connections.
    func beginShutdown(graceDeadline: ContinuousClock.Instant) -> [ServerConnection] {
        state.withLock { s in
            s.shuttingDown = true
            s.graceDeadline = graceDeadline
            return Array(s.connections.values)
        }
    }

    /// Waits until every connection has closed.
    func waitForDrain() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if s.connections.isEmpty { return true }
                s.drainWaiters.append(c)
                return false
            }
            if done { c.resume() }
        }
    }
}
