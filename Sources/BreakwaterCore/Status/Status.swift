/// The outcome of an RPC: a gRPC status code and an optional human-readable message.
///
/// See gRPC's status codes (<https://github.com/grpc/grpc/blob/master/doc/statuscodes.md>) for the
/// meaning of each code.
public struct Status: Sendable, Hashable, CustomStringConvertible {
    /// A gRPC status code.
    public enum Code: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        case ok = 0
        case cancelled = 1
        case unknown = 2
        case invalidArgument = 3
        case deadlineExceeded = 4
        case notFound = 5
        case alreadyExists = 6
        case permissionDenied = 7
        case resourceExhausted = 8
        case failedPrecondition = 9
        case aborted = 10
        case outOfRange = 11
        case unimplemented = 12
        case internalError = 13
        case unavailable = 14
        case dataLoss = 15
        case unauthenticated = 16

        /// The canonical upper-case name used in service configs, e.g. `"UNAVAILABLE"`.
        public var name: String {
            switch self {
            case .ok: "OK"
            case .cancelled: "CANCELLED"
            case .unknown: "UNKNOWN"
            case .invalidArgument: "INVALID_ARGUMENT"
            case .deadlineExceeded: "DEADLINE_EXCEEDED"
            case .notFound: "NOT_FOUND"
            case .alreadyExists: "ALREADY_EXISTS"
            case .permissionDenied: "PERMISSION_DENIED"
            case .resourceExhausted: "RESOURCE_EXHAUSTED"
            case .failedPrecondition: "FAILED_PRECONDITION"
            case .aborted: "ABORTED"
            case .outOfRange: "OUT_OF_RANGE"
            case .unimplemented: "UNIMPLEMENTED"
            case .internalError: "INTERNAL"
            case .unavailable: "UNAVAILABLE"
            case .dataLoss: "DATA_LOSS"
            case .unauthenticated: "UNAUTHENTICATED"
            }
        }

        /// Parses a canonical name (`"UNAVAILABLE"`); returns nil for anything else.
        public init?(name: String) {
            guard let code = Code.allCases.first(where: { $0.name == name }) else { return nil }
            self = code
        }

        public var description: String { name }
    }

    /// The status code.
    public var code: Code
    /// A message for developers; empty when there is none.
    public var message: String

    /// Creates a status.
    public init(code: Code, message: String = "") {
        self.code = code
        self.message = message
    }

    /// The OK status.
    public static let ok = Status(code: .ok)

    public var description: String {
        message.isEmpty ? code.name : "\(code.name): \(message)"
    }
}
