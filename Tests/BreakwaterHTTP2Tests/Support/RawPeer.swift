import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// HTTP/2 frames and HPACK blocks written by hand, for peers that send what no well-behaved library
/// would (floods, bombs, streams over the limit, no preface at all).
enum RawFrames {
    static let preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    enum Kind: UInt8 {
        case data = 0, headers = 1, rstStream = 3, settings = 4, ping = 6, goAway = 7, windowUpdate = 8, continuation = 9
    }

    static func frame(_ kind: Kind, flags: UInt8 = 0, stream: UInt32 = 0, _ payload: [UInt8] = []) -> [UInt8] {
        let n = payload.count
        return [UInt8(n >> 16), UInt8((n >> 8) & 0xff), UInt8(n & 0xff), kind.rawValue, flags] + be32(stream & 0x7fff_ffff) + payload
    }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }

    static func settings(_ entries: [(UInt16, UInt32)] = []) -> [UInt8] {
        frame(.settings, payload: entries.flatMap { [UInt8($0.0 >> 8), UInt8($0.0 & 0xff)] + be32($0.1) })
    }

    static func frame(_ kind: Kind, flags: UInt8 = 0, stream: UInt32 = 0, payload: [UInt8]) -> [UInt8] {
        frame(kind, flags: flags, stream: stream, payload)
    }

    static let settingsAck = frame(.settings, flags: 0x1)
    static let endStream: UInt8 = 0x1
    static let endHeaders: UInt8 = 0x4

    static func rst(_ stream: UInt32, code: UInt32) -> [UInt8] { frame(.rstStream, stream: stream, payload: be32(code)) }

    // MARK: HPACK (RFC 7541)

    /// An integer with an `n`-bit prefix, the other bits of the first byte set to `flags`.
    static func integer(_ value: Int, prefixBits n: Int, flags: UInt8) -> [UInt8] {
        let max = (1 << n) - 1
        if value < max { return [flags | UInt8(value)] }
        var out: [UInt8] = [flags | UInt8(max)]
        var rest = value - max
        while rest >= 128 {
            out.append(UInt8(rest & 0x7f) | 0x80)
            rest >>= 7
        }
        out.append(UInt8(rest))
        return out
    }

    static func string(_ s: String) -> [UInt8] {
        let bytes = Array(s.utf8)
        return integer(bytes.count, prefixBits: 7, flags: 0) + bytes
    }

    /// A literal field without indexing, new name.
    static func literal(_ name: String, _ value: String) -> [UInt8] { [0x00] + string(name) + string(value) }

    /// A literal field with incremental indexing, new name (it becomes dynamic entry 62).
    static func indexed(_ name: String, _ value: String) -> [UInt8] { [0x40] + string(name) + string(value) }

    /// A gRPC request header block for `path`.
    static func request(_ path: String, extra: [(String, String)] = []) -> [UInt8] {
        // :method POST (static 3), :scheme http (static 6).
        var block: [UInt8] = [0x83, 0x86]
        block += literal(":path", path) + literal(":authority", "127.0.0.1")
        block += literal("content-type", "application/grpc") + literal("te", "trailers")
        for (n, v) in extra { block += literal(n, v) }
        return block
    }

    /// An HPACK "bomb": one 4 KB value put in the dynamic table, then referenced `count` times with the
    /// one-byte representation of dynamic entry 62.
    static func bomb(after prefix: [UInt8], count: Int) -> [UInt8] {
        prefix + indexed("x-bomb", String(repeating: "b", count: 4000)) + [UInt8](repeating: 0xbe, count: count)
    }

    /// `block` as a HEADERS frame and CONTINUATION frames of at most 16 KiB each.
    static func headerFrames(stream: UInt32, _ block: [UInt8], endStream: Bool) -> [UInt8] {
        var out: [UInt8] = []
        var offset = 0
        var first = true
        repeat {
            let end = min(block.count, offset + 16_384)
            let last = end == block.count
            let flags = (last ? endHeaders : 0) | (first && endStream ? Self.endStream : 0)
            out += frame(first ? .headers : .continuation, flags: flags, stream: stream, Array(block[offset..<end]))
            offset = end
            first = false
        } while offset < block.count
        return out
    }

    /// A gRPC message (uncompressed) as DATA.
    static func message(stream: UInt32, _ payload: [UInt8], endStream: Bool) -> [UInt8] {
        frame(.data, flags: endStream ? Self.endStream : 0, stream: stream, [0] + be32(UInt32(payload.count)) + payload)
    }
}

/// One frame as read off the wire.
struct RawFrame {
    var kind: UInt8
    var flags: UInt8
    var stream: UInt32
    var payload: [UInt8]

    var isGoAway: Bool { kind == RawFrames.Kind.goAway.rawValue }
    /// The error code of a GOAWAY or RST_STREAM frame.
    var errorCode: UInt32? {
        if kind == RawFrames.Kind.goAway.rawValue && payload.count >= 8 { return Self.be32(payload, 4) }
        if kind == RawFrames.Kind.rstStream.rawValue && payload.count >= 4 { return Self.be32(payload, 0) }
        return nil
    }

    static func be32(_ p: [UInt8], _ at: Int) -> UInt32 {
        UInt32(p[at]) << 24 | UInt32(p[at + 1]) << 16 | UInt32(p[at + 2]) << 8 | UInt32(p[at + 3])
    }
}

/// A blocking TCP connection for raw peers (reads time out after `timeout` seconds). Run it off the
/// cooperative pool (`Python.blocking`).
final class RawConnection: @unchecked Sendable {
    // Safety: used by one thread at a time (the blocking work item that owns it).

    let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int, timeout: Double = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawHTTP2Client.Failure(description: "socket errno \(errno)") }
        setTimeout(timeout)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw RawHTTP2Client.Failure(description: "connect errno \(errno)")
        }
    }

    /// Wraps an accepted socket.
    init(accepted fd: Int32, timeout: Double = 5) {
        self.fd = fd
        setTimeout(timeout)
    }

    deinit { close(fd) }

    func setTimeout(_ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Writes everything; false when the peer is gone.
    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    /// Closes with an RST instead of a FIN (SO_LINGER 0), as a peer that vanishes does.
    func abort() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Reads more bytes; false at end of stream, on error or time-out.
    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return false }
        buffer += chunk[0..<n]
        return true
    }

    /// Drops the next `count` bytes (a client's preface, which is not a frame).
    func skip(_ count: Int) {
        while buffer.count < count { guard fill() else { return } }
        buffer.removeFirst(count)
    }

    /// The next frame; nil at end of stream or time-out.
    func readFrame() -> RawFrame? {
        while buffer.count < 9 { guard fill() else { return nil } }
        let length = Int(buffer[0]) << 16 | Int(buffer[1]) << 8 | Int(buffer[2])
        while buffer.count < 9 + length { guard fill() else { return nil } }
        let frame = RawFrame(
            kind: buffer[3], flags: buffer[4], stream: RawFrame.be32(buffer, 5) & 0x7fff_ffff, payload: Array(buffer[9..<9 + length]))
        buffer.removeFirst(9 + length)
        return frame
    }

    /// Frames until one satisfies `stop` (returned), or the stream ends (nil).
    func readUntil(_ stop: (RawFrame) -> Bool) -> RawFrame? {
        while let frame = readFrame() {
            if stop(frame) { return frame }
        }
        return nil
    }

    /// Raw bytes until end of stream or time-out.
    func readToEnd() -> [UInt8] {
        while fill() {}
        defer { buffer = [] }
        return buffer
    }

    /// Whether the peer closed the connection (end of stream or reset) within the read time-out,
    /// discarding whatever it sent.
    func closedByPeer() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { continue }
            if n == 0 { return true }
            return errno == ECONNRESET
        }
    }

    /// Sends the preface and empty SETTINGS, reads the server's SETTINGS and acknowledges them; returns
    /// the server's SETTINGS entries.
    @discardableResult
    func handshake() -> [UInt16: UInt32]? {
        write(RawFrames.preface + RawFrames.settings())
        guard let settings = readUntil({ $0.kind == RawFrames.Kind.settings.rawValue && $0.flags & 1 == 0 }) else { return nil }
        write(RawFrames.settingsAck)
        var entries: [UInt16: UInt32] = [:]
        var i = 0
        while i + 6 <= settings.payload.count {
            entries[UInt16(settings.payload[i]) << 8 | UInt16(settings.payload[i + 1])] = RawFrame.be32(settings.payload, i + 2)
            i += 6
        }
        return entries
    }
}

/// A listening socket for malicious servers: each accepted connection is handed to `serve` on its own
/// thread. Stops (closes the socket) on `stop()`.
final class RawServer: @unchecked Sendable {
    // Safety: `fd` and `port` are immutable; the accept thread is the only reader of the socket.

    let fd: Int32
    let port: Int

    init(serve: @escaping @Sendable (RawConnection) -> Void) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { throw RawHTTP2Client.Failure(description: "listen errno \(errno)") }
        var local = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = Int(UInt16(bigEndian: local.sin_port))
        let listener = fd
        Thread.detachNewThread {
            while true {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }
                Thread.detachNewThread { serve(RawConnection(accepted: client)) }
            }
        }
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}

/// Runs blocking socket work on a thread of its own, never on the cooperative pool.
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    let result: Result<T, any Error> = await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: Result { try work() }) }
    }
    return try result.get()
}
