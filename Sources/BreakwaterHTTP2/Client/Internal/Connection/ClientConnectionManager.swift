import BreakwaterCore
import BreakwaterWire
import CBreakwaterPOSIX
#if canImport(Glibc)
import Glibc
#endif

/// The connection life of one `HTTP2ClientTransport`, on one event loop: lazy connect with a timeout,
/// waiting for the server's SETTINGS, backoff after failures (fail fast while backing off), GOAWAY and
/// graceful close. Streams wait here until a connection is ready.
final class ClientConnectionManager: @unchecked Sendable {
    // Safety: the `let`s are immutable; every `var` is touched only on `loop`'s thread.

    enum State {
        case idle
        case connecting
        case ready(ClientConnection)
        case backoff(until: ContinuousClock.Instant, error: RPCError)
        case closed
    }

    let loop: EventLoop
    let host: String
    let port: Int
    let configuration: HTTP2ClientTransport.Configuration
    let authority: String
    /// The TLS context when the transport is secure; a failure to build it fails every connection attempt.
    let tlsContextResult: Result<TLSContext, RPCError>?
    /// The TLS context, when the transport is secure and it could be built.
    var tlsContext: TLSContext? { try? tlsContextResult?.get() }

    private var state: State = .idle
    private var waiting: [ClientStream] = []
    private var connections: [ObjectIdentifier: ClientConnection] = [:]
    private var pendingConnection: ClientConnection?
    private var attempt: ConnectAttempt?
    private var connectTimer: UInt64?
    private var generation = 0
    private var nextBackoff: Duration
    private var closeWaiters: [CheckedContinuation<Void, Never>] = []
    /// Whether the loop was asked to close this manager when it stops.
    private var watchingLoopStop = false

    init(loop: EventLoop, host: String, port: Int, configuration: HTTP2ClientTransport.Configuration) {
        self.loop = loop
        self.host = host
        self.port = port
        self.configuration = configuration
        if let authority = configuration.authority {
            self.authority = authority
        } else if host.contains(":") && !host.hasPrefix("[") {
            self.authority = "[\(host)]:\(port)"
        } else {
            self.authority = "\(host):\(port)"
        }
        nextBackoff = configuration.backoff.initial
        tlsContextResult = configuration.tls.map { TLSContext.client($0) }
    }

    private var target: String {
        if let numeric = SocketAddress(numericHost: host, port: port) { return numeric.description }
        return "\(host):\(port)"
    }

    // MARK: Streams

    /// A new stream: arm its deadline, then send it, queue it, or fail it fast.
    func open(_ stream: ClientStream) {
        if !watchingLoopStop {
            watchingLoopStop = true
            loop.onStop(self) { [weak self] in self?.close(nil) }
        }
        if let deadline = stream.head.deadline {
            if deadline <= .now {
                stream.fail(Status(code: .deadlineExceeded, message: "deadline exceeded before the call started"), neverReachedServer: true)
                return
            }
            stream.deadlineTimer = loop.scheduleTimer(at: deadline) {
                stream.deadlineTimer = nil
                stream.fail(
                    Status(code: .deadlineExceeded, message: "deadline exceeded"),
                    neverReachedServer: !stream.requestSent,
                    reset: StatusMapping.HTTP2ErrorCode.cancel.rawValue)
            }
        }
        guard (0...65535).contains(port) else {
            stream.fail(Status(code: .invalidArgument, message: "port \(port) is outside 0...65535"), neverReachedServer: true)
            return
        }
        switch state {
        case .closed:
            stream.fail(Status(code: .unavailable, message: "transport closed: \(target)"), neverReachedServer: true)
        case .ready(let connection) where connection.isUsable:
            connection.startStream(stream)
        case .ready, .idle:
            waiting.append(stream)
            connect()
        case .connecting:
            waiting.append(stream)
        case .backoff(let until, let error):
            if ContinuousClock.now >= until {
                waiting.append(stream)
                connect()
            } else {
                stream.fail(error.status, neverReachedServer: true)
            }
        }
    }

    /// A stream ended: forget it if it was still waiting for a connection.
    func streamEnded(_ stream: ClientStream) {
        if stream.streamID <= 0, !waiting.isEmpty {
            waiting.removeAll { $0 === stream }
        }
    }

    // MARK: Connecting

    private func connect() {
        state = .connecting
        generation += 1
        let gen = generation
        let timeout = configuration.connectTimeout
        connectTimer = loop.scheduleTimer(at: .now + timeout) { [self] in
            connectTimer = nil
            connectFailed(gen, message: "connect timed out after \(timeout): \(target)")
        }
        if case .failure(let error)? = tlsContextResult {
            connectFailed(gen, message: "\(error.message): \(target)")
            return
        }
        if let numeric = SocketAddress(numericHost: host, port: port) {
            tryAddresses([numeric], index: 0, generation: gen, lastError: nil)
        } else {
            let host = self.host
            let port = self.port
            Task {
                let result = await SocketAddress.resolve(host: host, port: port)
                self.loop.execute {
                    switch result {
                    case .success(let addresses):
                        self.tryAddresses(addresses, index: 0, generation: gen, lastError: nil)
                    case .failure(let error):
                        self.connectFailed(gen, message: error.message)
                    }
                }
            }
        }
    }

    private func tryAddresses(_ addresses: [SocketAddress], index: Int, generation gen: Int, lastError: String?) {
        guard gen == generation, case .connecting = state else { return }
        guard index < addresses.count else {
            connectFailed(gen, message: lastError ?? "no address to connect to: \(target)")
            return
        }
        let address = addresses[index]
        switch Socket.startConnect(to: address) {
        case .connected(let fd):
            connected(fd: fd, address: address, generation: gen)
        case .failed(let err):
            tryAddresses(addresses, index: index + 1, generation: gen, lastError: "\(Socket.describe(err)): \(address)")
        case .inProgress(let fd):
            let attempt = ConnectAttempt(fd: fd) { [self] err in
                self.attempt = nil
                loop.unregister(fd: fd)
                if err == 0 {
                    connected(fd: fd, address: address, generation: gen)
                } else {
                    Glibc.close(fd)
                    tryAddresses(addresses, index: index + 1, generation: gen, lastError: "\(Socket.describe(err)): \(address)")
                }
            }
            if loop.register(fd: fd, interest: .writable, handler: attempt) {
                self.attempt = attempt
            } else {
                Glibc.close(fd)
                tryAddresses(addresses, index: index + 1, generation: gen, lastError: "cannot watch socket: \(address)")
            }
        }
    }

    private func connected(fd: Int32, address: SocketAddress, generation gen: Int) {
        guard gen == generation, case .connecting = state else {
            Glibc.close(fd)
            return
        }
        let connection = ClientConnection(loop: loop, fd: fd, remoteAddress: address, manager: self, authority: authority)
        connections[ObjectIdentifier(connection)] = connection
        pendingConnection = connection
        if !connection.start() {
            connection.close(reason: "cannot start HTTP/2 session")
        }
    }

    /// The server's first SETTINGS arrived: the connection is ready.
    func connectionReady(_ connection: ClientConnection) {
        guard connection === pendingConnection else { return }
        pendingConnection = nil
        if let connectTimer { loop.cancelTimer(connectTimer) }
        connectTimer = nil
        nextBackoff = configuration.backoff.initial
        if case .closed = state {
            connection.closeGracefully()
            return
        }
        state = .ready(connection)
        let streams = waiting
        waiting.removeAll()
        for stream in streams where !stream.isEnded {
            connection.startStream(stream)
        }
    }

    private func connectFailed(_ gen: Int, message: String) {
        guard gen == generation, case .connecting = state else { return }
        if let connectTimer { loop.cancelTimer(connectTimer) }
        connectTimer = nil
        if let attempt {
            loop.unregister(fd: attempt.fd)
            Glibc.close(attempt.fd)
            self.attempt = nil
        }
        let error = RPCError(code: .unavailable, message: message)
        let backoff = configuration.backoff
        let jitter = backoff.jitter > 0 ? Double.random(in: -backoff.jitter...backoff.jitter) : 0
        state = .backoff(until: .now + nextBackoff * (1 + jitter), error: error)
        nextBackoff = min(nextBackoff * backoff.multiplier, backoff.maximum)
        if let pending = pendingConnection {
            pendingConnection = nil
            pending.close(reason: message)
        }
        let streams = waiting
        waiting.removeAll()
        for stream in streams {
            stream.fail(error.status, neverReachedServer: true)
        }
    }

    // MARK: Connection events

    func connectionGoingAway(_ connection: ClientConnection) {
        if case .ready(let current) = state, current === connection {
            state = .idle
        }
    }

    func connectionClosed(_ connection: ClientConnection, reason: String?) {
        connections[ObjectIdentifier(connection)] = nil
        if connection === pendingConnection {
            pendingConnection = nil
            connectFailed(generation, message: "\(reason ?? "connection closed") before HTTP/2 settings: \(connection.remoteAddress)")
        } else if case .ready(let current) = state, current === connection {
            state = .idle
        }
        finishCloseIfDone()
    }

    // MARK: Close

    /// Closes gracefully; `continuation` (if any) resumes once every connection is gone.
    func close(_ continuation: CheckedContinuation<Void, Never>?) {
        if let continuation { closeWaiters.append(continuation) }
        if case .closed = state {
            finishCloseIfDone()
            return
        }
        generation += 1
        state = .closed
        if let connectTimer { loop.cancelTimer(connectTimer) }
        connectTimer = nil
        if let attempt {
            loop.unregister(fd: attempt.fd)
            Glibc.close(attempt.fd)
            self.attempt = nil
        }
        if let pending = pendingConnection {
            pendingConnection = nil
            pending.close(reason: "transport closed")
        }
        let streams = waiting
        waiting.removeAll()
        for stream in streams {
            stream.fail(Status(code: .unavailable, message: "transport closed: \(target)"), neverReachedServer: true)
        }
        for connection in connections.values {
            connection.closeGracefully()
        }
        finishCloseIfDone()
    }

    private func finishCloseIfDone() {
        guard case .closed = state, connections.isEmpty else { return }
        if watchingLoopStop {
            watchingLoopStop = false
            loop.removeOnStop(self)
        }
        let waiters = closeWaiters
        closeWaiters.removeAll()
        for waiter in waiters { waiter.resume() }
    }
}
