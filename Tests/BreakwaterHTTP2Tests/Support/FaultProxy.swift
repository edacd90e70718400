@_spi(Locking) import BreakwaterCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy on 127.0.0.1 in front of `upstreamPort`, for faults a healthy server cannot make: it can
/// silently drop everything in both directions (a "zombie" connection: nothing closes, nothing arrives)
/// and heal again. It also counts the HTTP/2 frames each side sent, by type, so that tests can see PINGs
/// and GOAWAYs go by.
///
/// Blocking sockets, two threads per connection (one per direction); `stop()` ends them all.
final class FaultProxy: @unchecked Sendable {
    // Safety: `listener`, `port` and `upstreamPort` are immutable; everything else is in `state`, under
    // its lock. Each socket is read by one pump thread and written by the other.

    enum Direction: Sendable { case toServer, toClient }

    private struct State {
        var dropping = false
        var stopped = false
        var accepted = 0
        var open = 0
        var sockets: [Int32] = []
        var frames: [Direction: [UInt8: Int]] = [.toServer: [:], .toClient: [:]]
    }

    let port: Int
    let upstreamPort: Int
    private let listener: Int32
    private let state = TSanMutex(State())

    init(upstreamPort: Int) throws {
        self.upstreamPort = upstreamPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        listener = fd
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw RawHTTP2Client.Failure(description: "proxy listen errno \(errno)")
        }
        var local = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = Int(UInt16(bigEndian: local.sin_port))
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// From now on every byte either side sends is read and thrown away.
    func drop() { state.withLock { $0.dropping = true } }

    /// Bytes flow again (what was dropped stays lost).
    func heal() { state.withLock { $0.dropping = false } }

    /// Connections accepted so far.
    var acceptedConnections: Int { state.withLock { $0.accepted } }

    /// Connections not yet closed by either side.
    var openConnections: Int { state.withLock { $0.open } }

    /// Frames of HTTP/2 frame type `type` that went by in `direction` (dropped or not).
    func frames(_ type: RawFrames.Kind, _ direction: Direction) -> Int {
        state.withLock { $0.frames[direction]?[type.rawValue] ?? 0 }
    }

    /// Closes the listener and every connection; the pump threads end.
    func stop() {
        let sockets = state.withLock { s -> [Int32] in
            s.stopped = true
            return s.sockets
        }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for fd in sockets { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = Self.loopback(port: UInt16(upstreamPort))
            let connected = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            let admitted = state.withLock { s -> Bool in
                guard !s.stopped, connected == 0 else { return false }
                s.accepted += 1
                s.open += 1
                s.sockets += [client, server]
                return true
            }
            guard admitted else {
                close(client)
                close(server)
                continue
            }
            // The last pump to end closes both sockets, so that neither is closed under the other.
            let remaining = TSanMutex(2)
            let finish: @Sendable () -> Void = { [self] in
                shutdown(client, Int32(SHUT_RDWR))
                shutdown(server, Int32(SHUT_RDWR))
                guard remaining.withLock({ n -> Bool in
                    n -= 1
                    return n == 0
                }) else { return }
                state.withLock { s in
                    s.sockets.removeAll { $0 == client || $0 == server }
                    s.open -= 1
                }
                close(client)
                close(server)
            }
            Thread.detachNewThread { [self] in
                pump(from: client, to: server, .toServer)
                finish()
            }
            Thread.detachNewThread { [self] in
                pump(from: server, to: client, .toClient)
                finish()
            }
        }
    }

    private func pump(from source: Int32, to destination: Int32, _ direction: Direction) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var scanner = FrameScanner(skipping: direction == .toServer ? RawFrames.preface.count : 0)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            let types = scanner.scan(buffer[0..<n])
            let dropping = state.withLock { s -> Bool in
                for type in types { s.frames[direction, default: [:]][type, default: 0] += 1 }
                return s.dropping
            }
            if dropping { continue }
            var offset = 0
            while offset < n {
                let written = buffer.withUnsafeBytes { raw in
                    raw.baseAddress.map { send(destination, $0 + offset, n - offset, Int32(MSG_NOSIGNAL)) } ?? -1
                }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }
}

/// Finds HTTP/2 frame boundaries in a byte stream fed in arbitrary chunks; reports each frame's type.
struct FrameScanner {
    private var skip: Int
    private var header: [UInt8] = []
    private var payloadLeft = 0

    init(skipping prefix: Int) { skip = prefix }

    mutating func scan(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var types: [UInt8] = []
        var i = bytes.startIndex
        while i < bytes.endIndex {
            if skip > 0 {
                let n = min(skip, bytes.endIndex - i)
                skip -= n
                i += n
            } else if payloadLeft > 0 {
                let n = min(payloadLeft, bytes.endIndex - i)
                payloadLeft -= n
                i += n
            } else {
                header.append(bytes[i])
                i += 1
                if header.count == 9 {
                    payloadLeft = Int(header[0]) << 16 | Int(header[1]) << 8 | Int(header[2])
                    types.append(header[3])
                    header.removeAll(keepingCapacity: true)
                }
            }
        }
        return types
    }
}
