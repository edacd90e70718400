import BreakwaterCore
#if canImport(Glibc)
import Glibc
#endif

/// What a client connects to: a name resolved to endpoints over time, a fixed list of addresses, a Unix
/// domain socket, or a resolver of one's own.
///
/// Parsed from gRPC's target syntax by ``init(_:)``:
/// - `dns:///host:port` (also `dns:host:port`, and a plain `host:port`): every address of the name,
///   looked up again when connections fail (at most every 30 s);
/// - `ipv4:127.0.0.1:50051,127.0.0.2:50051` and `ipv6:[::1]:50051,[::2]:50051`: those addresses;
/// - `unix:/run/echo.sock` (also `unix:///run/echo.sock`, and a relative `unix:echo.sock`) and
///   `unix-abstract:echo`: a Unix domain socket.
///
/// A port left out is 443, as in gRPC.
public struct ClientTarget: Sendable, CustomStringConvertible {
    /// The target as given (`dns:///localhost:50051`).
    public let description: String
    /// The `:authority` of the target's calls (unless the configuration sets one): `host:port` for DNS,
    /// the first address for a list, `localhost` for a Unix domain socket.
    public let authority: String
    /// The name TLS verifies and sends as SNI (unless the configuration sets one): the DNS host, else nil
    /// (each endpoint's own address).
    public let tlsHostname: String?
    let resolver: any NameResolver

    /// A target with its own resolver (a service registry): `authority` is sent with its calls.
    public static func resolver(_ resolver: some NameResolver, authority: String, description: String? = nil) -> ClientTarget {
        ClientTarget(description: description ?? "resolver:\(authority)", authority: authority, tlsHostname: nil, resolver: resolver)
    }

    /// Every address of `host` (`dns:///host:port`), looked up again when connections fail, at most every
    /// `minimumResolutionInterval`.
    public static func dns(host: String, port: Int, minimumResolutionInterval: Duration = .seconds(30)) -> ClientTarget {
        let authority = Endpoint(host: host, port: port).description
        return ClientTarget(
            description: "dns:///\(authority)", authority: authority, tlsHostname: SocketAddress.stripBrackets(host),
            resolver: DNSResolver(host: host, port: port, minimumResolutionInterval: minimumResolutionInterval))
    }

    /// A fixed list of endpoints.
    public static func endpoints(_ endpoints: [Endpoint]) -> ClientTarget {
        let authority: String
        switch endpoints.first?.address {
        case .tcp?: authority = endpoints[0].description
        default: authority = "localhost"
        }
        return ClientTarget(
            description: endpoints.map(\.description).joined(separator: ","), authority: authority, tlsHostname: nil,
            resolver: StaticResolver(endpoints: endpoints))
    }

    /// A Unix domain socket at `path`.
    public static func unix(path: String) -> ClientTarget {
        endpoints([Endpoint(.unix(path: path))])
    }

    private init(description: String, authority: String, tlsHostname: String?, resolver: any NameResolver) {
        self.description = description
        self.authority = authority
        self.tlsHostname = tlsHostname
        self.resolver = resolver
    }

    /// Parses gRPC's target syntax (see the type's documentation). Throws INVALID_ARGUMENT naming what is
    /// wrong.
    public init(_ text: String) throws(RPCError) {
        func invalid(_ reason: String) -> RPCError {
            RPCError(code: .invalidArgument, message: "invalid target \"\(text)\": \(reason)")
        }
        if let rest = text.dropPrefix("dns:") {
            var name = Substring(rest)
            if name.hasPrefix("//") {
                name = name.dropFirst(2)
                guard let slash = name.firstIndex(of: "/") else { throw invalid("dns://authority/host:port needs the /host:port") }
                guard name[..<slash].isEmpty else { throw invalid("a DNS server authority is not supported; use dns:///host:port") }
                name = name[name.index(after: slash)...]
            }
            let (host, port) = try Self.hostPort(name, invalid)
            guard SocketAddress.stripBrackets(host).isEmpty == false else { throw invalid("no host") }
            let target = ClientTarget.dns(host: host, port: port)
            self.init(description: text, authority: target.authority, tlsHostname: target.tlsHostname, resolver: target.resolver)
        } else if let rest = text.dropPrefix("ipv4:") ?? text.dropPrefix("ipv6:") {
            let v6 = text.hasPrefix("ipv6:")
            var endpoints: [Endpoint] = []
            for part in rest.split(separator: ",", omittingEmptySubsequences: false) {
                let (host, port): (String, Int)
                if v6 && !part.hasPrefix("[") {
                    (host, port) = (String(part), 443)  // a bare IPv6 address: no port
                } else {
                    (host, port) = try Self.hostPort(part, invalid)
                }
                let bare = SocketAddress.stripBrackets(host)
                guard let address = SocketAddress(numericHost: bare, port: port), (address.family == AF_INET6) == v6 else {
                    throw invalid("\"\(part)\" is not an \(v6 ? "IPv6" : "IPv4") address with a port")
                }
                endpoints.append(Endpoint(host: bare, port: port))
            }
            guard !endpoints.isEmpty else { throw invalid("no address") }
            let target = ClientTarget.endpoints(endpoints)
            self.init(description: text, authority: target.authority, tlsHostname: nil, resolver: target.resolver)
        } else if let rest = text.dropPrefix("unix-abstract:") {
            guard !rest.isEmpty, SocketAddress(unixPath: rest, abstract: true) != nil else { throw invalid("not a usable abstract socket name") }
            self.init(
                description: text, authority: "localhost", tlsHostname: nil,
                resolver: StaticResolver(endpoints: [Endpoint(.unixAbstract(name: rest))]))
        } else if let rest = text.dropPrefix("unix:") {
            var path = rest
            if path.hasPrefix("//") {
                path = String(path.dropFirst(2))
                guard path.hasPrefix("/") else { throw invalid("unix:// needs an absolute path (unix:///path)") }
            }
            guard !path.isEmpty, SocketAddress(unixPath: path) != nil else { throw invalid("not a usable socket path") }
            self.init(
                description: text, authority: "localhost", tlsHostname: nil,
                resolver: StaticResolver(endpoints: [Endpoint(.unix(path: path))]))
        } else if Self.hasUnknownScheme(text) {
            throw invalid("unknown scheme (dns, ipv4, ipv6, unix, unix-abstract)")
        } else {
            let (host, port) = try Self.hostPort(Substring(text), invalid)
            let target = ClientTarget.dns(host: host, port: port)
            self.init(description: text, authority: target.authority, tlsHostname: target.tlsHostname, resolver: target.resolver)
        }
    }

    /// `xds:///name`, `foo:bar`: a scheme this parser does not know (a plain `host:port` has a numeric port).
    private static func hasUnknownScheme(_ text: String) -> Bool {
        if text.contains("://") { return true }
        guard let colon = text.firstIndex(of: ":"), text.lastIndex(of: ":") == colon else { return false }
        let scheme = text[..<colon]
        let rest = text[text.index(after: colon)...]
        return !scheme.isEmpty && scheme.allSatisfy({ $0.isLetter || $0 == "-" }) && !rest.allSatisfy(\.isNumber)
    }

    /// `host:port`, `[v6]:port`, `host` (port 443).
    private static func hostPort(_ text: Substring, _ invalid: (String) -> RPCError) throws(RPCError) -> (String, Int) {
        var host = text
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw invalid("\"\(text)\" has no closing ]") }
            host = text[text.startIndex...close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("\"\(text)\": expected :port after ]") }
                portText = after.dropFirst()
            }
        } else if let colon = text.lastIndex(of: ":") {
            guard text.firstIndex(of: ":") == colon else { throw invalid("\"\(text)\": an IPv6 address needs brackets") }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty else { throw invalid("no host") }
        guard let portText else { return (String(host), 443) }
        guard let port = Int(portText), (0...65535).contains(port) else { throw invalid("port \"\(portText)\" is not in 0...65535") }
        return (String(host), port)
    }
}

extension String {
    fileprivate func dropPrefix(_ prefix: String) -> String? {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil
    }
}
