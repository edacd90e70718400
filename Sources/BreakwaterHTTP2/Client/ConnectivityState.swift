import BreakwaterCore

/// gRPC's connectivity states of a client transport's connection to its target.
public enum ConnectivityState: String, Sendable, Hashable, CustomStringConvertible {
    /// No connection, none being made: the next call connects.
    case idle
    /// A connection attempt is under way (TCP, TLS, and the server's SETTINGS); calls wait for it.
    case connecting
    /// Connected, and the server's SETTINGS arrived: calls go to the connection.
    case ready
    /// The last attempt failed; calls fail at once with its error until the backoff ends and the
    /// transport connects again by itself.
    case transientFailure
    /// The transport was closed: every call fails.
    case shutdown

    /// The name gRPC gives the state (`TRANSIENT_FAILURE`).
    public var description: String {
        switch self {
        case .idle: "IDLE"
        case .connecting: "CONNECTING"
        case .ready: "READY"
        case .transientFailure: "TRANSIENT_FAILURE"
        case .shutdown: "SHUTDOWN"
        }
    }
}

/// One change of a client transport's connectivity state.
public struct ConnectivityStateChange: Sendable, CustomStringConvertible {
    /// The state before.
    public var from: ConnectivityState
    /// The state now.
    public var to: ConnectivityState
    /// Entering TRANSIENT_FAILURE: the error of the attempt that failed (what calls fail with).
    public var error: RPCError?

    /// Creates a change from `from` to `to`, with the connect error when `to` is TRANSIENT_FAILURE.
    public init(from: ConnectivityState, to: ConnectivityState, error: RPCError? = nil) {
        self.from = from
        self.to = to
        self.error = error
    }

    /// `READY -> IDLE`, and the error's message after a colon when there is one.
    public var description: String {
        "\(from) -> \(to)" + (error.map { ": \($0.message)" } ?? "")
    }
}
