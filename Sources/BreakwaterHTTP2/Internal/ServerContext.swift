@_spi(Locking) import BreakwaterCore

/// What every connection of one `HTTP2ServerTransport` shares: the configuration, the accept callback,
/// and the registry of open connections used by graceful shutdown.
final class ServerContext: Sendable {
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
    private let state = TSanMutex(State())

    init(
        configuration: HTTP2ServerTransport.Configuration, tls: TLSContext? = nil,
        acceptStream: @escaping @Sendable (any ServerTransportStream) -> Void
    ) {
        self.configuration = configuration
        self.tls = tls
        self.acceptStream = acceptStream
    }

    var isShuttingDown: Bool { state.withLock { $0.shuttingDown } }
    var graceDeadline: ContinuousClock.Instant? { state.withLock { $0.graceDeadline } }

    /// Registers an accepted connection; false when the server is shutting down.
    func add(_ connection: ServerConnection) -> Bool {
        state.withLock { s in
            guard !s.shuttingDown else { return false }
            s.connections[ObjectIdentifier(connection)] = connection
            return true
        }
    }

    func connectionClosed(_ connection: ServerConnection) {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.connections[ObjectIdentifier(connection)] = nil
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
