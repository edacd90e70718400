/// An error that ends an RPC with a non-OK status.
///
/// Every failure a caller sees from Breakwater is an `RPCError`: transport failures, deadlines,
/// statuses sent by the server, and rejections by interceptors such as the circuit breaker.
public struct RPCError: Error, Sendable, CustomStringConvertible {
    /// The status code; never `.ok`.
    public var code: Status.Code
    /// A message for developers.
    public var message: String
    /// Trailing metadata sent with the status, if any.
    public var metadata: Metadata
    /// The underlying error, where one caused this (for example a breaker rejection or a socket error).
    public var cause: (any Error & Sendable)?

    /// Creates an error. `code` must not be `.ok`; `.ok` is replaced by `.unknown`.
    public init(code: Status.Code, message: String, metadata: Metadata = [:], cause: (any Error & Sendable)? = nil) {
        self.code = code == .ok ? .unknown : code
        self.message = message
        self.metadata = metadata
        self.cause = cause
    }

    /// Creates an error from a non-OK status.
    public init(status: Status, metadata: Metadata = [:]) {
        self.init(code: status.code, message: status.message, metadata: metadata)
    }

    /// The status this error ends a call with.
    public var status: Status { Status(code: code, message: message) }

    public var description: String {
        message.isEmpty ? code.name : "\(code.name): \(message)"
    }
}
