/// Identifies a remote method: its fully qualified service name and its method name.
public struct MethodDescriptor: Sendable, Hashable, CustomStringConvertible {
    /// The fully qualified service name, e.g. `"echo.Echo"`.
    public var service: String
    /// The method name, e.g. `"Get"`.
    public var method: String

    /// Creates a descriptor for `method` of `service`.
    public init(service: String, method: String) {
        self.service = service
        self.method = method
    }

    /// The HTTP/2 `:path`: `/echo.Echo/Get`.
    public var path: String { "/\(service)/\(method)" }

    public var description: String { path }
}

/// The four kinds of RPC.
public enum CallKind: Sendable, Hashable {
    case unary
    case clientStreaming
    case serverStreaming
    case bidirectionalStreaming
}
