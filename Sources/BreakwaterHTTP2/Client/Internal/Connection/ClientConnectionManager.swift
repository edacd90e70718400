@_spi(Locking) import BreakwaterCore
import BreakwaterWire
import CBreakwaterPOSIX
#if canImport(Glibc)
import Glibc
#endif

/// The connection life of one `HTTP2ClientTransport`, on one event loop: lazy connect with a timeout,
/// waiting for the server's SETTINGS, backoff after failures (fail fast while backing off, then connect
/// again by itself), GOAWAY and graceful close. The decisions are `ClientConnectionStateMachine`'s; this
/// class carries them out with sockets, timers and streams, and publishes the connectivity state. Streams
/// wait here until a connection is ready.
final class ClientConnectionManager: ClientStreamRouter, @unchecked Sendable {
    // Safety: the `let`s are immutable (`observed` is a lock); every `var` is touched only on `loop`'s
    // thread.

    let loop: EventLoop
    let host: String
    let port: Int
    /// The one address to connect to, when it is known (an endpoint a resolver produced, a Unix domain
    /// socket); nil: `host` is resolved on every attempt and its addresses are tried in order.
    let address: SocketAddress?
    let configuration: HTTP2ClientTransport.Configuration
    let authority: String
    /// The TLS context when the transport is secure; a failure to build it fails every connection attempt.
    let tlsContextResult: Result<TLSContext, RPCError>?
    /// The TLS context, when the transport is secure and it could be built.
    var tlsContext: TLSContext? { try? tlsContextResult?.get() }

    private var machine: ClientConnectionStateMachine
    private var random = SystemRandomNumberGenerator()
    private var waiting: [ClientStream] = []
    private var connections: [ObjectIdentifier: ClientConnection] = [:]
    /// The connection of the attempt under way, until its SETTINGS arrive.
    private var pendingConnection: (connection: ClientConnection, attempt: Int)?
    private var connectAttempt: ConnectAttempt?
    private var connectTimer: UInt64?
    /// Armed in TRANSIENT_FAILURE: the end of the backoff, when the next attempt starts.
    private var backoffTimer: UInt64?
    /// The state last published, and the subscribers to its changes: read and subscribed from any thread.
    /// An object of its own, so that the streams' termination handlers can hold it strongly without
    /// holding (or weakly referencing, which slows every retain of it) the manager.
    private let observed = Observed()
    private var published: ConnectivityState = .idle

    final class Observed: Sendable {
        struct State {
            var state: ConnectivityState = .idle
            var subscribers = EventSubscribers<ConnectivityStateChange>()
        }
        let lock = TSanMutex(State())
    }
    private var closeWaiters: [CheckedContinuation<Void, Never>] = []
    /// Whether the loop was asked to close this manager when it stops.
    private var watchingLoopStop = false
    /// The keepalive of new connections: the configuration's, with its time doubled each time a server
    /// said "too_many_pings" (gRFC A8).
    private(set) var keepalive: HTTP2ClientTransport.Configuration.Keepalive?
    /// Told of every connectivity change, on the loop thread, before the subscribers (a load balancer).
    var onStateChange: ((ConnectivityStateChange) -> Void)?

    init(
        loop: EventLoop, host: String, port: Int, address: SocketAddress? = nil,
        configuration: HTTP2ClientTransport.Configuration
    ) {
        self.loop = loop
        self.host = host
        self.port = port
        self.address = address ?? SocketAddress(numericHost: host, port: port)
        self.configuration = configuration
        if let authority = configuration.authority {
            self.authority = authority
        } else if host.contains(":") && !host.hasPrefix("[") {
            self.authority = "[\(host)]:\(port)"
        } else {
            self.authority = "\(host):\(port)"
        }
        tlsContextResult = configuration.tls.map { TLSContext.client($0) }
        keepalive = configuration.keepalive
        let target = self.address?.description ?? "\(host):\(port)"
        machine = ClientConnectionStateMachine(backoff: configuration.backoff, target: target)
    }

    /// The address (or `host:port`) in messages.
    var target: String {
        if let address { return address.description }
        return "\(host):\(port)"
    }

    // MARK: Streams

    /// A new stream: send it, queue it, or fail it fast.
    func open(_ stream: ClientStream) {
        watchLoopStop()
        guard (0...65535).contains(port) else {
            stream.fail(Status(code: .invalidArgument, message: "port \(port) is outside 0...65535"), connectionNeverEstablished: true)
            return
        }
        let action = machine.openStream(waitForReady: stream.head.waitForReady, probe: stream.head.isProbe)
        publish()  // before connecting: a connect that fails at once publishes its own change
        switch action {
        case .start(let id):
            if let connection = connections[id] {
                if stream.head.isProbe, let bound = configuration.silentConnectionPingTimeout {
                    connection.startAfterProofOfLife(stream, bound: bound)
                } else {
                    connection.startStream(stream)
                }
            } else {
                stream.fail(Status(code: .unavailable, message: "connection lost: \(target)"), neverReachedServer: true)
            }
        case .wait:
            waiting.append(stream)
        case .waitAndConnect(let attempt):
            cancelBackoffTimer()  // a probe connects now, in the middle of a backoff
            waiting.append(stream)
            connect(attempt)
        case .fail(let status):
            stream.fail(status, connectionNeverEstablished: true)
        }
    }

    /// Connects now when nothing is connected or connecting (a load balancer warming its subchannels).
    func connectIfIdle() {
        guard let attempt = machine.connectIfIdle() else { return }
        watchLoopStop()
        publish()
        connect(attempt)
    }

    /// The state on the loop thread, with the connect error in TRANSIENT_FAILURE.
    var loopConnectivity: (state: ConnectivityState, error: RPCError?) { machine.connectivity }

    /// A stream ended: forget it if it was still waiting for a connection (or for a connection to prove
    /// it is alive). When it was the last stream waiting for an attempt that has heard nothing from the
    /// server, the attempt is abandoned.
    func streamEnded(_ stream: ClientStream, status: Status) {
        guard stream.streamID <= 0 else { return }
        if !waiting.isEmpty {
            let before = waiting.count
            waiting.removeAll { $0 === stream }
            if waiting.isEmpty && waiting.count < before { abandonSilentAttempt() }
        }
        if stream.head.isProbe {
            for connection in connections.values { connection.forgetHeld(stream) }
        }
    }

    /// Gives up the attempt under way when nothing at all came back from the server for it (the TCP
    /// connect has not completed, or no byte arrived on the new connection) and no stream waits for it
    /// any more. A silent attempt that outlived every caller is what a dead path looks like; keeping it
    /// would make the next caller wait on it until the connect timeout, when a fresh attempt costs one
    /// round trip. Off with `silentConnectionPingTimeout` (the same judgement of silence).
    private func abandonSilentAttempt() {
        guard configuration.silentConnectionPingTimeout != nil, let attempt = machine.currentAttempt else { return }
        if let (pending, _) = pendingConnection, pending.session.readCount > 0 { return }
        guard machine.attemptAbandoned(attempt) else { return }
        cancelConnectTimer()
        abandonConnectAttempt()
        if let (pending, _) = pendingConnection {
            pendingConnection = nil
            pending.close(reason: "connection attempt abandoned: nothing heard from the server while calls waited")
        }
        publish()
    }

    /// A probe held on `connection` for its proof of life must go elsewhere: the connection died or is
    /// going away before it answered. The probe never left the client; it is opened again (on a new
    /// connection).
    func reopen(_ stream: ClientStream) {
        guard !stream.isEnded else { return }
        open(stream)
    }

    private func watchLoopStop() {
        guard !watchingLoopStop else { return }
        watchingLoopStop = true
        // Strong: removed when the manager has closed (a weak capture would slow every retain of it).
        loop.onStop(self) { [self] in close(nil) }
    }

    // MARK: Connecting

    private func connect(_ attempt: Int) {
        let timeout = configuration.connectTimeout
        connectTimer = loop.scheduleTimer(at: .now + timeout) { [self] in
            connectTimer = nil
            attemptFailed(attempt, message: "connect timed out after \(timeout): \(target)")
        }
        if case .failure(let error)? = tlsContextResult {
            attemptFailed(attempt, message: "\(error.message): \(target)")
            return
        }
        if let address {
            tryAddresses([address], index: 0, attempt: attempt, lastError: nil)
        } else {
            let host = self.host
            let port = self.port
            Task {
                let result = await SocketAddress.resolve(host: host, port: port)
                self.loop.execute {
                    switch result {
                    case .success(let addresses):
                        self.tryAddresses(addresses, index: 0, attempt: attempt, lastError: nil)
                    case .failure(let error):
                        self.attemptFailed(attempt, message: error.message)
                    }
                }
            }
        }
    }

    private func tryAddresses(_ addresses: [SocketAddress], index: Int, attempt: Int, lastError: String?) {
        guard machine.currentAttempt == attempt else { return }
        guard index < addresses.count else {
            attemptFailed(attempt, message: lastError ?? "no address to connect to: \(target)")
            return
        }
        let address = addresses[index]
        switch Socket.startConnect(to: address) {
        case .connected(let fd):
            connected(fd: fd, address: address, attempt: attempt)
        case .failed(let err):
            tryAddresses(addresses, index: index + 1, attempt: attempt, lastError: "\(Socket.describe(err)): \(address)")
        case .inProgress(let fd):
            let pending = ConnectAttempt(fd: fd) { [self] err in
                connectAttempt = nil
                loop.unregister(fd: fd)
                if err == 0 {
                    connected(fd: fd, address: address, attempt: attempt)
                } else {
                    Glibc.close(fd)
                    tryAddresses(addresses, index: index + 1, attempt: attempt, lastError: "\(Socket.describe(err)): \(address)")
                }
            }
            if loop.register(fd: fd, interest: .writable, handler: pending) {
                connectAttempt = pending
            } else {
                Glibc.close(fd)
                tryAddresses(addresses, index: index + 1, attempt: attempt, lastError: "cannot watch socket: \(address)")
            }
        }
    }

    private func connected(fd: Int32, address: SocketAddress, attempt: Int) {
        guard machine.currentAttempt == attempt else {
            Glibc.close(fd)
            return
        }
        let connection = ClientConnection(loop: loop, fd: fd, remoteAddress: address, manager: self, authority: authority)
        connections[ObjectIdentifier(connection)] = connection
        pendingConnection = (connection, attempt)
        if !connection.start() {
            connection.close(reason: "cannot start HTTP/2 session")
        }
    }

    /// The server's first SETTINGS arrived: the connection is ready.
    func connectionReady(_ connection: ClientConnection) {
        guard let (pending, attempt) = pendingConnection, pending === connection else { return }
        pendingConnection = nil
        cancelConnectTimer()
        defer { publish() }
        switch machine.attemptSucceeded(attempt, connection: ObjectIdentifier(connection)) {
        case .startWaiting:
            let streams = waiting
            waiting.removeAll()
            for stream in streams where !stream.isEnded {
                connection.startStream(stream)
            }
        case .closeConnection, .none, .failWaiting:
            connection.closeGracefully()
        }
    }

    private func attemptFailed(_ attempt: Int, message: String) {
        let error = RPCError(code: .unavailable, message: message)
        guard case .failWaiting(let status, _) = machine.attemptFailed(attempt, error: error, now: .now, random: &random) else {
            return
        }
        cancelConnectTimer()
        abandonConnectAttempt()
        if let (pending, _) = pendingConnection {
            pendingConnection = nil
            pending.close(reason: message)
        }
        publish()
        armBackoffTimer()
        // Streams that wait for ready stay for the attempt the backoff's end starts.
        let streams = waiting
        waiting.removeAll()
        for stream in streams {
            if stream.head.waitForReady {
                waiting.append(stream)
            } else {
                stream.fail(status, connectionNeverEstablished: true)
            }
        }
    }

    /// In TRANSIENT_FAILURE: connect again when the backoff ends, whether calls are waiting or not.
    private func armBackoffTimer() {
        guard case .transientFailure(let retryAt, _) = machine.state else { return }
        cancelBackoffTimer()
        // Strong: cancelled on close (a weak capture would slow every retain of the manager).
        backoffTimer = loop.scheduleTimer(at: retryAt) { [self] in
            backoffTimer = nil
            guard let attempt = machine.backoffEnded() else { return }
            publish()
            connect(attempt)
        }
    }

    private func cancelBackoffTimer() {
        if let backoffTimer { loop.cancelTimer(backoffTimer) }
        backoffTimer = nil
    }

    // MARK: Connectivity

    /// The state now, from any thread.
    var connectivityState: ConnectivityState { observed.lock.withLock { $0.state } }

    /// The state's changes from now on, from any thread.
    func connectivityStateChanges(bufferingNewest limit: Int) -> AsyncStream<ConnectivityStateChange> {
        EventSubscribers.stream(bufferingNewest: limit) { [observed] body in
            observed.lock.withLock { body(&$0.subscribers) }
        }
    }

    /// Tells the subscribers when the machine's state changed. Loop thread; the lock is taken only on a
    /// change (not per call).
    private func publish() {
        let (state, error) = machine.connectivity
        guard state != published else { return }
        let change = ConnectivityStateChange(from: published, to: state, error: error)
        published = state
        ConnectivityLog.report(change, target: target, configuration: configuration)
        onStateChange?(change)
        let finished = observed.lock.withLock { o -> [AsyncStream<ConnectivityStateChange>.Continuation] in
            o.state = state
            o.subscribers.yield(change)
            return state == .shutdown ? o.subscribers.takeAll() : []
        }
        for continuation in finished { continuation.finish() }
    }

    /// Stops a non-blocking connect in progress and closes its socket.
    private func abandonConnectAttempt() {
        guard let connectAttempt else { return }
        loop.unregister(fd: connectAttempt.fd)
        Glibc.close(connectAttempt.fd)
        self.connectAttempt = nil
    }

    private func cancelConnectTimer() {
        if let connectTimer { loop.cancelTimer(connectTimer) }
        connectTimer = nil
    }

    // MARK: Connection events

    /// A server sent GOAWAY ENHANCE_YOUR_CALM "too_many_pings": the next connections PING half as often.
    func serverSaidTooManyPings() {
        keepalive = keepalive?.afterTooManyPings
    }

    func connectionGoingAway(_ connection: ClientConnection) {
        machine.connectionLost(ObjectIdentifier(connection))
        publish()
        connection.rerouteHeld()
    }

    /// `connection` had no calls for `idleTimeout`: it closes gracefully and the next call connects anew.
    func connectionIdle(_ connection: ClientConnection) {
        connection.closeGracefully()
        connectionGoingAway(connection)
    }

    func connectionClosed(_ connection: ClientConnection, reason: String?) {
        connections[ObjectIdentifier(connection)] = nil
        if let (pending, attempt) = pendingConnection, pending === connection {
            pendingConnection = nil
            attemptFailed(attempt, message: "\(reason ?? "connection closed") before HTTP/2 settings: \(connection.remoteAddress)")
        } else {
            machine.connectionLost(ObjectIdentifier(connection))
            publish()
        }
        finishCloseIfDone()
    }

    // MARK: Close

    /// Closes gracefully; `continuation` (if any) resumes once every connection is gone.
    func close(_ continuation: CheckedContinuation<Void, Never>?) {
        if let continuation { closeWaiters.append(continuation) }
        if machine.shutDown() {
            finishCloseIfDone()
            return
        }
        publish()
        cancelConnectTimer()
        cancelBackoffTimer()
        abandonConnectAttempt()
        if let (pending, _) = pendingConnection {
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

    private var isShutDown: Bool {
        if case .shutdown = machine.state { return true }
        return false
    }

    private func finishCloseIfDone() {
        guard isShutDown, connections.isEmpty else { return }
        if watchingLoopStop {
            watchingLoopStop = false
            loop.removeOnStop(self)
        }
        let waiters = closeWaiters
        closeWaiters.removeAll()
        for waiter in waiters { waiter.resume() }
    }
}
