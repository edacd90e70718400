/// Identifies a remote method: its fully qualified service name and its method name.
public struct MethodDescriptor: Sendable, Hashable, CustomStringConvertible {
    /// The fully qualified service name, e.g. `"echo.Echo"`.
    public var service: String
    /// The method name, e.g. `"Get"`.
    public var method: String

    public init(service: String, method: String) {
        self.service = service
        self.method = method
    }

    /// The HTTP/2 `:path`: `/echo.Echo/Get`.
    public var path: String { "/\(service)/\(method)" }

    /// Parses a `:path` of the form `/service/method`; nil when it does not have that shape.
    public init?(path: String) {
        guard path.first == "/" else { return nil }
        let rest = path.dropFirst()
        guard let slash = rest.lastIndex(of: "/") else { return nil }
        let service = rest[rest.startIndex..<slash]
        let method = rest[rest.index(after: slash)...]
        guard !service.isEmpty, !method.isEmpty else { return nil }
        self.service = String(service)
        self.method = String(method)
    }

    public var description: String { path }
}

/// The four kinds of RPC.
public enum CallKind: Sendable, Hashable {
    case unary
    case clientStreaming
    case serverStreaming
    case bidirectionalStreaming
}
