@_spi(Locking) import BreakwaterCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy on 127.0.0.1 in front of `upstreamPort`, for the faults a healthy server cannot make:
///
/// - ``drop()``: every byte either side sends is read and thrown away (a "zombie": nothing closes,
///   nothing arrives); ``heal()`` lets bytes flow again (what was dropped stays lost).
/// - ``stall(_:)``: one direction stops moving; what is sent waits in the proxy and the kernel's buffers
///   (TCP flow control pushes back on the sender), and moves again, all of it, on ``heal()``.
/// - ``reset()``: every open connection is closed with a TCP reset (RST), as a crashed peer's kernel or a
///   middlebox does.
/// - ``refuse()``: the listener closes, so new connections are refused (ECONNREFUSED) until
///   ``accept()`` listens again on the same port.
///
/// It also counts the HTTP/2 frames each side sent, by frame type, so that tests can see PINGs and
/// GOAWAYs go by. Blocking sockets, two threads per connection (one per direction); ``stop()`` ends them.
public final class FaultProxy: @unchecked Sendable {
    // Safety: `port` and `upstreamPort` are immutable; everything else is in `state`, under its lock.
    // Each socket is read by one pump thread and written by the other.

    /// Which way bytes go.
    public enum Direction: Sendable, Hashable { case toServer, toClient }

    /// Failures to set the proxy up.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private struct State {
        var listener: Int32 = -1
        var dropping = false
        var stalled: Set<Direction> = []
        var stopped = false
        var accepted = 0
        var open = 0
        var sockets: [Int32] = []
        /// Sockets being reset: closed without a shutdown first, so the close sends RST, not FIN.
        var resetting: Set<Int32> = []
        var frames: [Direction: [UInt8: Int]] = [.toServer: [:], .toClient: [:]]
    }

    /// The port the proxy listens on.
    public let port: Int
    /// The port it forwards to, on 127.0.0.1.
    public let upstreamPort: Int
    private let state = TSanMutex(State())

    /// Starts a proxy on a free port in front of `upstreamPort`.
    public init(upstreamPort: Int) throws {
        self.upstreamPort = upstreamPort
        let (fd, port) = try Self.listen(port: 0)
        self.port = port
        state.withLock { $0.listener = fd }
        Thread.detachNewThread { [self] in acceptLoop(fd) }
    }

    /// From now on every byte either side sends is read and thrown away.
    public func drop() { state.withLock { $0.dropping = true } }

    /// Bytes flow again in both directions: nothing is dropped, stalled bytes move on.
    public func heal() {
        state.withLock {
            $0.dropping = false
            $0.stalled = []
        }
    }

    /// Bytes going `direction` stop moving until ``heal()``; nothing is lost.
    public func stall(_ direction: Direction) { state.withLock { _ = $0.stalled.insert(direction) } }

    // Descriptors are shut down under the lock and closed only by the thread that uses them, so that
    // none is touched after its number was reused by another test's socket (a shutdown of a stranger's
    // listener once let a second proxy take its port).

    /// Closes every open connection with a TCP reset; the listener stays.
    public func reset() {
        state.withLock { s in
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            for fd in s.sockets {
                _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                s.resetting.insert(fd)
                // Wakes the pump reading it without sending anything; its close then sends the RST.
                shutdown(fd, Int32(SHUT_RD))
            }
        }
    }

    /// Stops listening: new connections are refused until ``accept()``. Open connections stay.
    public func refuse() {
        state.withLock { s in
            // The accept thread wakes with an error and closes the listener.
            if s.listener >= 0 { shutdown(s.listener, Int32(SHUT_RDWR)) }
            s.listener = -1
        }
    }

    /// Listens again on the same port after ``refuse()``.
    public func accept() throws {
        guard state.withLock({ $0.listener < 0 && !$0.stopped }) else { return }
        let (fd, _) = try Self.listen(port: UInt16(port))
        state.withLock { $0.listener = fd }
        Thread.detachNewThread { [self] in acceptLoop(fd) }
    }

    /// Connections accepted so far.
    public var acceptedConnections: Int { state.withLock { $0.accepted } }

    /// Connections not yet closed by either side.
    public var openConnections: Int { state.withLock { $0.open } }

    /// Frames of HTTP/2 frame type `type` (0 DATA, 1 HEADERS, 3 RST_STREAM, 4 SETTINGS, 6 PING, 7 GOAWAY)
    /// that went by in `direction`, dropped or not.
    public func frames(type: UInt8, _ direction: Direction) -> Int {
        state.withLock { $0.frames[direction]?[type] ?? 0 }
    }

    /// Closes the listener and every connection; the pump threads end.
    public func stop() {
        state.withLock { s in
            s.stopped = true
            s.stalled = []
            if s.listener >= 0 { shutdown(s.listener, Int32(SHUT_RDWR)) }
            s.listener = -1
            for fd in s.sockets { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }

    private static func listen(port: UInt16) throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = loopback(port: port)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 16) == 0 else {
            let failure = Failure(description: "proxy cannot listen on port \(port): errno \(errno)")
            close(fd)
            throw failure
        }
        var local = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return (fd, Int(UInt16(bigEndian: local.sin_port)))
    }

    private func acceptLoop(_ listener: Int32) {
        defer { close(listener) }
        while true {
            let client = Glibc.accept(listener, nil, nil)
            guard client >= 0 else {
                if errno == EINTR { continue }
                return
            }
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
                state.withLock { s in
                    for fd in [client, server] {
                        shutdown(fd, Int32(s.resetting.contains(fd) ? SHUT_RD : SHUT_RDWR))
                    }
                    guard remaining.withLock({ n -> Bool in
                        n -= 1
                        return n == 0
                    }) else { return }
                    s.sockets.removeAll { $0 == client || $0 == server }
                    s.resetting.subtract([client, server])
                    s.open -= 1
                    close(client)
                    close(server)
                }
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

    /// What a pump does with bytes it read: throw them away, wait, or forward them.
    private enum Verdict { case drop, wait, forward, stop }

    private func verdict(_ direction: Direction) -> Verdict {
        state.withLock { s in
            if s.stopped { return .stop }
            if s.dropping { return .drop }
            return s.stalled.contains(direction) ? .wait : .forward
        }
    }

    /// Waits up to 2 ms; true when `fd` was shut down both ways (the other pump's end, or ``stop()``),
    /// so that a stalled pump ends with its connection.
    private static func wasShutDown(_ fd: Int32) -> Bool {
        var entry = pollfd(fd: fd, events: 0, revents: 0)
        _ = poll(&entry, 1, 2)
        return entry.revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0
    }

    private func pump(from source: Int32, to destination: Int32, _ direction: Direction) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        // The client's connection preface is not a frame.
        var scanner = FrameScanner(skipping: direction == .toServer ? 24 : 0)
        while true {
            // A stalled direction reads nothing, so the sender's kernel buffers fill and push back.
            while verdict(direction) == .wait {
                if Self.wasShutDown(source) { return }
            }
            let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            let types = scanner.scan(buffer[0..<n])
            state.withLock { s in
                for type in types { s.frames[direction, default: [:]][type, default: 0] += 1 }
            }
            var decision = verdict(direction)
            while decision == .wait {
                if Self.wasShutDown(source) { return }
                decision = verdict(direction)
            }
            switch decision {
            case .stop: return
            case .drop, .wait: continue
            case .forward: break
            }
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
public struct FrameScanner {
    private var skip: Int
    private var header: [UInt8] = []
    private var payloadLeft = 0

    /// A scanner that skips `prefix` bytes first (the client's preface).
    public init(skipping prefix: Int) { skip = prefix }

    /// The types of the frames whose headers end in `bytes`.
    public mutating func scan(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
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
