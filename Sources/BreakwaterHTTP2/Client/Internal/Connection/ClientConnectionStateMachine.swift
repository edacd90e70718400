import BreakwaterCore

/// The connectivity of one `HTTP2ClientTransport` target as a value: IDLE, CONNECTING, READY (only once
/// the server's SETTINGS arrived), TRANSIENT_FAILURE and SHUTDOWN (gRPC's connectivity states), with the
/// backoff between attempts. A failed attempt fails its waiting streams, and every new stream fails fast
/// with its error while the backoff runs; when the backoff ends the manager connects again by itself
/// (`backoffEnded`), calls or not, so no call ever starts an attempt of its own in TRANSIENT_FAILURE.
///
/// Each event returns what the manager must do; the manager owns the sockets, timers and streams. An
/// attempt is numbered, and events of an attempt that is no longer current are ignored (a late connect
/// result after a time-out, a SETTINGS after a shutdown).
struct ClientConnectionStateMachine: Sendable {
    /// A connection's identity, as the manager knows it.
    typealias ConnectionID = ObjectIdentifier

    enum State: Sendable, Equatable {
        case idle
        /// Attempt `attempt` is under way; streams wait for it.
        case connecting(attempt: Int)
        /// Streams go to this connection.
        case ready(ConnectionID)
        /// The last attempt failed with `error`; new streams fail fast with it until the next attempt,
        /// at `retryAt`.
        case transientFailure(retryAt: ContinuousClock.Instant, error: RPCError)
        case shutdown

        static func == (a: State, b: State) -> Bool {
            switch (a, b) {
            case (.idle, .idle), (.shutdown, .shutdown): true
            case (.connecting(let x), .connecting(let y)): x == y
            case (.ready(let x), .ready(let y)): x == y
            case (.transientFailure(let x, let e), .transientFailure(let y, let f)): x == y && e.status == f.status
            default: false
            }
        }
    }

    /// What to do with a new stream.
    enum OpenAction: Equatable {
        /// Start it on this connection.
        case start(on: ConnectionID)
        /// Keep it until the attempt under way ends.
        case wait
        /// Keep it and start attempt `attempt`.
        case waitAndConnect(attempt: Int)
        /// End it at once (it never reached a server).
        case fail(Status)
    }

    /// What to do when an attempt ends.
    enum AttemptAction: Equatable {
        /// Nothing: the attempt is not the current one.
        case none
        /// Start the waiting streams on the ready connection.
        case startWaiting(on: ConnectionID)
        /// Fail the waiting streams with `status`; new ones fail fast until the backoff ends at `retryAt`
        /// (then call `backoffEnded`).
        case failWaiting(Status, retryAt: ContinuousClock.Instant)
        /// The transport shut down while connecting: close the new connection gracefully.
        case closeConnection
    }

    private(set) var state: State = .idle
    private var attempts = 0
    private var backoff: ConnectionBackoff
    private let target: String

    init(backoff: HTTP2ClientTransport.Configuration.Backoff, target: String) {
        self.backoff = ConnectionBackoff(backoff)
        self.target = target
    }

    /// A stream wants to start. In TRANSIENT_FAILURE a stream fails fast with the last connect error,
    /// unless it waits for ready (it waits for the attempt the backoff's end starts) or it is a probe (its
    /// attempt starts now: whoever admitted the probe has spaced it already, as a breaker's open duration
    /// does, and it should not wait out a backoff that may run much longer).
    mutating func openStream(waitForReady: Bool = false, probe: Bool = false) -> OpenAction {
        switch state {
        case .shutdown:
            return .fail(Status(code: .unavailable, message: "transport closed: \(target)"))
        case .ready(let id):
            return .start(on: id)
        case .connecting:
            return .wait
        case .idle:
            return .waitAndConnect(attempt: beginAttempt())
        case .transientFailure(_, let error):
            if probe { return .waitAndConnect(attempt: beginAttempt()) }
            if waitForReady { return .wait }
            return .fail(error.status)
        }
    }

    /// Attempt `attempt` is given up without having failed: every stream that waited for it has ended
    /// (deadline or cancel) and nothing at all came back from the server. Back to IDLE, without a
    /// backoff, so that the next stream starts a fresh attempt rather than join one that may be dead.
    /// Returns whether the attempt was the current one.
    mutating func attemptAbandoned(_ attempt: Int) -> Bool {
        guard case .connecting(let current) = state, current == attempt else { return false }
        state = .idle
        return true
    }

    /// Asked to connect without a stream (a load balancer's subchannel): the number of the attempt to
    /// start, or nil unless IDLE.
    mutating func connectIfIdle() -> Int? {
        guard case .idle = state else { return nil }
        return beginAttempt()
    }

    private mutating func beginAttempt() -> Int {
        attempts += 1
        state = .connecting(attempt: attempts)
        return attempts
    }

    /// Attempt `attempt` got a connection that received the server's SETTINGS.
    mutating func attemptSucceeded(_ attempt: Int, connection: ConnectionID) -> AttemptAction {
        switch state {
        case .connecting(let current) where current == attempt:
            state = .ready(connection)
            backoff.reset()
            return .startWaiting(on: connection)
        case .shutdown:
            return .closeConnection
        default:
            return .none
        }
    }

    /// Attempt `attempt` failed (connect error, time-out, closed before SETTINGS) at `now`.
    mutating func attemptFailed(
        _ attempt: Int, error: RPCError, now: ContinuousClock.Instant, random: inout some RandomNumberGenerator
    ) -> AttemptAction {
        guard case .connecting(let current) = state, current == attempt else { return .none }
        let retryAt = now + backoff.next(using: &random)
        state = .transientFailure(retryAt: retryAt, error: error)
        return .failWaiting(error.status, retryAt: retryAt)
    }

    /// The backoff after a failed attempt ended: the number of the attempt to start now, or nil when the
    /// machine is no longer backing off (shut down).
    mutating func backoffEnded() -> Int? {
        guard case .transientFailure = state else { return nil }
        return beginAttempt()
    }

    /// The connection went away (GOAWAY, or closed): the next stream connects anew.
    mutating func connectionLost(_ connection: ConnectionID) {
        if case .ready(let current) = state, current == connection { state = .idle }
    }

    /// The transport closes: from now on every stream fails. Returns whether it was already shut down.
    mutating func shutDown() -> Bool {
        if case .shutdown = state { return true }
        state = .shutdown
        return false
    }

    /// The state as gRPC names it, with the connect error in TRANSIENT_FAILURE.
    var connectivity: (state: ConnectivityState, error: RPCError?) {
        switch state {
        case .idle: (.idle, nil)
        case .connecting: (.connecting, nil)
        case .ready: (.ready, nil)
        case .transientFailure(_, let error): (.transientFailure, error)
        case .shutdown: (.shutdown, nil)
        }
    }

    /// The number of the attempt under way, if any.
    var currentAttempt: Int? {
        if case .connecting(let attempt) = state { return attempt }
        return nil
    }
}
