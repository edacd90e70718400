/// One retry of a client call: which attempt comes next, why, and after how long.
///
/// The retry interceptor of BreakwaterResilience reports one through ``ClientCallEvent/retry(_:)`` for
/// every retry it makes, transparent or not, so that metrics and tracing can count retries by reason.
public struct ClientRetry: Sendable, Hashable {
    /// Why an attempt is retried.
    public enum Reason: Sendable, Hashable {
        /// The attempt failed with a retryable status; the backoff is the policy's jittered one.
        case status(Status.Code)
        /// The server's `grpc-retry-pushback-ms` set the delay after an attempt failed with this status.
        case pushback(Status.Code)
        /// The attempt's stream never reached the server (REFUSED_STREAM, above a GOAWAY's last stream,
        /// a connection lost before the stream was written): retried at once, outside the policy's count.
        case transparent(Status.Code)
        /// A hedged attempt, started while earlier ones are still in flight.
        case hedge

        /// The reason's name as metrics and logs spell it: `status`, `pushback`, `transparent`, `hedge`.
        public var name: String {
            switch self {
            case .status: "status"
            case .pushback: "pushback"
            case .transparent: "transparent"
            case .hedge: "hedge"
            }
        }

        /// The status of the attempt that is retried; `nil` for a hedge.
        public var code: Status.Code? {
            switch self {
            case .status(let code), .pushback(let code), .transparent(let code): code
            case .hedge: nil
            }
        }
    }

    /// The method called.
    public var method: MethodDescriptor
    /// The number of the attempt about to start (2 for the first retry).
    public var attempt: Int
    /// Why.
    public var reason: Reason
    /// How long the call waits before that attempt; zero for a transparent retry.
    public var backoff: Duration

    /// Creates a retry.
    public init(method: MethodDescriptor, attempt: Int, reason: Reason, backoff: Duration) {
        self.method = method
        self.attempt = attempt
        self.reason = reason
        self.backoff = backoff
    }
}
