/// One address a target resolves to: a replica of the service, which gets one connection (subchannel).
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    /// Where the endpoint listens.
    public enum Address: Sendable, Hashable {
        /// A TCP host and port. The host is normally numeric (IPv4, or IPv6 with or without brackets);
        /// a name is resolved by the endpoint's connection on each attempt.
        case tcp(host: String, port: Int)
        /// A Unix domain socket at a filesystem path.
        case unix(path: String)
        /// A Unix domain socket named in Linux's abstract namespace.
        case unixAbstract(name: String)
    }

    /// Where the endpoint listens.
    public var address: Address

    /// Creates an endpoint.
    public init(_ address: Address) {
        self.address = address
    }

    /// A TCP endpoint.
    public init(host: String, port: Int) {
        self.init(.tcp(host: host, port: port))
    }

    /// `127.0.0.1:50051`, `[::1]:50051`, `unix:/run/echo.sock`, `unix-abstract:echo`.
    public var description: String {
        switch address {
        case .tcp(let host, let port):
            host.contains(":") && !host.hasPrefix("[") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): "unix:\(path)"
        case .unixAbstract(let name): "unix-abstract:\(name)"
        }
    }

    /// The socket address when it needs no lookup (numeric, or Unix domain).
    var socketAddress: SocketAddress? {
        switch address {
        case .tcp(let host, let port): SocketAddress(numericHost: host, port: port)
        case .unix(let path): SocketAddress(unixPath: path)
        case .unixAbstract(let name): SocketAddress(unixPath: name, abstract: true)
        }
    }

    /// The host and port a connection manager is made with (a Unix socket: its path, port 0).
    var managerHostPort: (host: String, port: Int) {
        switch address {
        case .tcp(let host, let port): (host, port)
        case .unix(let path): (path, 0)
        case .unixAbstract(let name): (name, 0)
        }
    }
}
