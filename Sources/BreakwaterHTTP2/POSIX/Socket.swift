import BreakwaterCore
import CBreakwaterPOSIX
#if canImport(Glibc)
import Glibc
#endif

/// Thin wrappers over non-blocking POSIX socket calls. Errors are returned, never trapped.
enum Socket {
    /// A readable description of `errno` values.
    static func describe(_ err: Int32) -> String {
        switch err {
        case ECONNREFUSED: return "connection refused"
        case EADDRINUSE: return "address already in use"
        case ETIMEDOUT: return "connection timed out"
        case ENETUNREACH: return "network unreachable"
        case EHOSTUNREACH: return "host unreachable"
        case ECONNRESET: return "connection reset by peer"
        case EADDRNOTAVAIL: return "address not available"
        case EACCES: return "permission denied"
        case ENOENT: return "no such file or directory"
        default: return String(cString: strerror(err))
        }
    }

    /// Outcome of a non-blocking connect.
    enum ConnectResult {
        case connected(Int32)
        case inProgress(Int32)
        case failed(Int32)  // errno
    }

    /// Creates a non-blocking stream socket (TCP, or Unix domain) and starts connecting it.
    static func startConnect(to address: SocketAddress) -> ConnectResult {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failed(errno) }
        if address.family != AF_UNIX { setNoDelay(fd) }
        let rc = address.withSockAddr { connect(fd, $0, $1) }
        if rc == 0 { return .connected(fd) }
        let err = errno
        if err == EINPROGRESS { return .inProgress(fd) }
        close(fd)
        return .failed(err)
    }

    /// The pending error of a socket (`SO_ERROR`), 0 when none.
    static func pendingError(_ fd: Int32) -> Int32 {
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 { return errno }
        return err
    }

    static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Creates a listening socket bound to `address` with SO_REUSEADDR; returns the fd or an error. For a
    /// Unix domain socket path, a socket file left there by an earlier server is removed first (anything
    /// else at the path is left alone, and the bind fails).
    static func listen(on address: SocketAddress, backlog: Int32 = 1024) -> Result<Int32, RPCError> {
        if let (path, abstract) = address.unixPath, !abstract { removeStaleSocketFile(path) }
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            return .failure(RPCError(code: .unavailable, message: "cannot create socket: \(describe(errno)): \(address)"))
        }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if address.family == AF_INET6 {
            _ = setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        if address.withSockAddr({ bind(fd, $0, $1) }) != 0 {
            let err = errno
            close(fd)
            return .failure(RPCError(code: .unavailable, message: "cannot bind: \(describe(err)): \(address)"))
        }
        if Glibc.listen(fd, backlog) != 0 {
            let err = errno
            close(fd)
            return .failure(RPCError(code: .unavailable, message: "cannot listen: \(describe(err)): \(address)"))
        }
        return .success(fd)
    }

    /// Removes the file at `path` when it is a socket (a server's leftover); nothing else is touched.
    static func removeStaleSocketFile(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK else { return }
        unlink(path)
    }

    /// The local address of a socket.
    static func localAddress(_ fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return rc == 0 ? SocketAddress(storage: storage, length: len) : nil
    }

    /// Outcome of accepting one connection.
    enum AcceptResult {
        case accepted(Int32, SocketAddress)
        /// Nothing is pending.
        case none
        /// The connection that was pending is gone (reset before it was accepted): try the next one.
        case retry
        /// The process or system is out of descriptors or memory (errno): stop accepting for a while.
        case exhausted(Int32)
        /// Any other error (errno).
        case failed(Int32)
    }

    /// Accepts one connection (non-blocking, close-on-exec).
    static func accept(_ listener: Int32) -> AcceptResult {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bw_accept4(listener, $0, &len)
            }
        }
        guard fd >= 0 else {
            let err = errno
            switch err {
            case EAGAIN, EWOULDBLOCK: return .none
            case EINTR, ECONNABORTED, EPROTO, EPERM: return .retry
            case EMFILE, ENFILE, ENOBUFS, ENOMEM: return .exhausted(err)
            default: return .failed(err)
            }
        }
        setNoDelay(fd)
        return .accepted(fd, SocketAddress(storage: storage, length: len))
    }
}
