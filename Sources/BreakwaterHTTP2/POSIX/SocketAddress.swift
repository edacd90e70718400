import BreakwaterCore
#if canImport(Glibc)
import Glibc
#endif

/// An IPv4, IPv6 or Unix domain socket address (a path, or a name in Linux's abstract namespace).
struct SocketAddress: Sendable, CustomStringConvertible {
    var storage: sockaddr_storage
    var length: socklen_t

    var family: Int32 { Int32(storage.ss_family) }

    /// Parses a numeric IPv4 or IPv6 address (brackets around IPv6 allowed); nil for host names.
    init?(numericHost host: String, port: Int) {
        guard (0...65535).contains(port) else { return nil }
        let bare = SocketAddress.stripBrackets(host)
        var storage = sockaddr_storage()
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, bare, &v4) == 1 {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
            sin.sin_addr = v4
            withUnsafeBytes(of: &sin) { src in
                withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) }
            }
            self.storage = storage
            self.length = socklen_t(MemoryLayout<sockaddr_in>.size)
        } else if inet_pton(AF_INET6, bare, &v6) == 1 {
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
            sin6.sin6_addr = v6
            withUnsafeBytes(of: &sin6) { src in
                withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) }
            }
            self.storage = storage
            self.length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            return nil
        }
    }

    /// A Unix domain socket address: a filesystem path, or (`abstract`) a name in Linux's abstract
    /// namespace (no file; a leading NUL byte on the wire). Nil when it does not fit `sun_path`.
    init?(unixPath path: String, abstract: Bool = false) {
        var sun = sockaddr_un()
        sun.sun_family = sa_family_t(AF_UNIX)
        let bytes = (abstract ? [0] : []) + Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: sun.sun_path)
        // A path needs its terminating NUL; an abstract name is exactly its bytes.
        guard !path.isEmpty, bytes.count + (abstract ? 0 : 1) <= capacity else { return nil }
        withUnsafeMutableBytes(of: &sun.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        var storage = sockaddr_storage()
        withUnsafeBytes(of: &sun) { src in
            withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) }
        }
        self.storage = storage
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path) ?? 2
        self.length = socklen_t(abstract ? pathOffset + bytes.count : MemoryLayout<sockaddr_un>.size)
    }

    /// Wraps an address filled in by the kernel (getaddrinfo, accept, getsockname).
    init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    /// Copies an address from raw `sockaddr` memory.
    init?(_ address: UnsafePointer<sockaddr>, length: socklen_t) {
        guard Int(length) <= MemoryLayout<sockaddr_storage>.size else { return nil }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(length)))
        }
        self.init(storage: storage, length: length)
    }

    static func stripBrackets(_ host: String) -> String {
        if host.hasPrefix("[") && host.hasSuffix("]") { return String(host.dropFirst().dropLast()) }
        return host
    }

    /// The path of a Unix domain socket address (without the abstract namespace's leading NUL), and
    /// whether it is abstract; nil for IP addresses and for an unnamed (client) Unix socket.
    var unixPath: (path: String, abstract: Bool)? {
        guard family == AF_UNIX else { return nil }
        var s = storage
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path) ?? 2
        let count = Int(length) - pathOffset
        guard count > 0 else { return nil }
        return withUnsafeBytes(of: &s) { raw in
            let bytes = raw[pathOffset..<min(pathOffset + count, raw.count)]
            if bytes.first == 0 {
                return (String(decoding: bytes.dropFirst(), as: UTF8.self), true)
            }
            return (String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self), false)
        }
    }

    /// 0 for a Unix domain socket address.
    var port: Int {
        guard family != AF_UNIX else { return 0 }
        var s = storage
        return withUnsafeBytes(of: &s) { raw -> Int in
            if family == AF_INET {
                return Int(UInt16(bigEndian: raw.loadUnaligned(as: sockaddr_in.self).sin_port))
            } else {
                return Int(UInt16(bigEndian: raw.loadUnaligned(as: sockaddr_in6.self).sin6_port))
            }
        }
    }

    /// The numeric host: `127.0.0.1` or `::1`; a Unix domain socket's path.
    var host: String {
        if family == AF_UNIX { return unixPath?.path ?? "" }
        var s = storage
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let ok = withUnsafeBytes(of: &s) { raw -> Bool in
            if family == AF_INET {
                var a = raw.loadUnaligned(as: sockaddr_in.self).sin_addr
                return inet_ntop(AF_INET, &a, &buffer, socklen_t(buffer.count)) != nil
            } else {
                var a = raw.loadUnaligned(as: sockaddr_in6.self).sin6_addr
                return inet_ntop(AF_INET6, &a, &buffer, socklen_t(buffer.count)) != nil
            }
        }
        guard ok else { return "?" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `127.0.0.1:50051`, `[::1]:50051`, `unix:/run/echo.sock` or `unix-abstract:echo`.
    var description: String {
        if family == AF_UNIX {
            guard let (path, abstract) = unixPath else { return "unix:" }
            return (abstract ? "unix-abstract:" : "unix:") + path
        }
        return family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The gRPC peer form: `ipv4:127.0.0.1:50051`, `ipv6:[::1]:50051`, `unix:/run/echo.sock`.
    var peerDescription: String {
        if family == AF_UNIX { return description }
        return (family == AF_INET6 ? "ipv6:" : "ipv4:") + description
    }

    /// Runs `body` with a `sockaddr` pointer to this address.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var s = storage
        return withUnsafePointer(to: &s) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }

    /// Resolves `host` to addresses. Numeric hosts answer at once; names are resolved with
    /// `getaddrinfo` on a separate thread, never on the caller's (an event loop must not block).
    static func resolve(host: String, port: Int) async -> Result<[SocketAddress], RPCError> {
        if let numeric = SocketAddress(numericHost: host, port: port) { return .success([numeric]) }
        return await withCheckedContinuation { continuation in
            let started = ThreadSpawner.spawn(name: "bw-resolve") {
                continuation.resume(returning: resolveBlocking(host: host, port: port))
            }
            if !started {
                continuation.resume(
                    returning: .failure(RPCError(code: .unavailable, message: "cannot start resolver thread for \(host):\(port)")))
            }
        }
    }

    private static func resolveBlocking(host: String, port: Int) -> Result<[SocketAddress], RPCError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_protocol = Int32(IPPROTO_TCP)
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(stripBrackets(host), String(port), &hints, &result)
        guard rc == 0, let first = result else {
            let reason = String(cString: gai_strerror(rc))
            return .failure(RPCError(code: .unavailable, message: "cannot resolve \(host):\(port): \(reason)"))
        }
        defer { freeaddrinfo(first) }
        var addresses: [SocketAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if let addr = info.pointee.ai_addr,
                info.pointee.ai_family == AF_INET || info.pointee.ai_family == AF_INET6,
                let address = SocketAddress(addr, length: info.pointee.ai_addrlen)
            {
                addresses.append(address)
            }
            cursor = info.pointee.ai_next
        }
        guard !addresses.isEmpty else {
            return .failure(RPCError(code: .unavailable, message: "cannot resolve \(host):\(port): no addresses"))
        }
        return .success(addresses)
    }
}
