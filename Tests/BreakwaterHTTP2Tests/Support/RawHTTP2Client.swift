import CNghttp2
#if canImport(Glibc)
import Glibc
#endif

/// A minimal blocking HTTP/2 client over nghttp2 for tests that must send what our transport never
/// would (a wrong content-type, a hand-written grpc-timeout).
enum RawHTTP2Client {
    struct Response {
        var status: Int?
        var grpcStatus: String?
        var body: [UInt8] = []
        var closed = false
        /// The RST_STREAM code the stream closed with (0 for a normal close).
        var closeCode: UInt32 = 0
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private final class Context {
        var response = Response()
        var body: [UInt8]
        var bodyOffset = 0
        init(body: [UInt8]) { self.body = body }
    }

    static func request(
        port: Int, path: String, method: String = "POST", headers: [(String, String)], body: [UInt8]
    ) throws -> Response {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw Failure(description: "connect errno \(errno)") }

        let context = Context(body: body)
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, _, name, nameLength, value, valueLength, _, user in
            guard let user, let name, let value else { return 0 }
            let ctx = Unmanaged<Context>.fromOpaque(user).takeUnretainedValue()
            let n = String(decoding: UnsafeBufferPointer(start: name, count: nameLength), as: UTF8.self)
            let v = String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self)
            if n == ":status" { ctx.response.status = Int(v) }
            if n == "grpc-status" { ctx.response.grpcStatus = v }
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, _, data, length, user in
            guard let user, let data else { return 0 }
            let ctx = Unmanaged<Context>.fromOpaque(user).takeUnretainedValue()
            ctx.response.body += UnsafeBufferPointer(start: data, count: length)
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, _, code, user in
            guard let user else { return 0 }
            let ctx = Unmanaged<Context>.fromOpaque(user).takeUnretainedValue()
            ctx.response.closed = true
            ctx.response.closeCode = code
            return 0
        }
        var session: OpaquePointer?
        let user = Unmanaged.passUnretained(context).toOpaque()
        guard nghttp2_session_client_new(&session, callbacks, user) == 0, let session else {
            throw Failure(description: "session")
        }
        defer { nghttp2_session_del(session) }
        _ = nghttp2_submit_settings(session, 0, nil, 0)
        let all = [(":method", method), (":scheme", "http"), (":path", path), (":authority", "127.0.0.1:\(port)")] + headers
        var storage: [[UInt8]] = all.flatMap { [Array($0.0.utf8), Array($0.1.utf8)] }
        var provider = nghttp2_data_provider(
            source: nghttp2_data_source(ptr: nil),
            read_callback: { _, _, buf, length, flags, _, user in
                guard let user, let buf, let flags else { return 0 }
                let ctx = Unmanaged<Context>.fromOpaque(user).takeUnretainedValue()
                let n = min(length, ctx.body.count - ctx.bodyOffset)
                for i in 0..<n { buf[i] = ctx.body[ctx.bodyOffset + i] }
                ctx.bodyOffset += n
                if ctx.bodyOffset == ctx.body.count { flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue }
                return n
            })
        let streamID = storage.withUnsafeMutableBufferPointer { buffers -> Int32 in
            var pointers: [UnsafeMutablePointer<UInt8>] = []
            for i in buffers.indices {
                let p = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, buffers[i].count))
                p.initialize(from: buffers[i], count: buffers[i].count)
                pointers.append(p)
            }
            defer { pointers.forEach { $0.deallocate() } }
            var nvs: [nghttp2_nv] = []
            for i in 0..<all.count {
                nvs.append(
                    nghttp2_nv(
                        name: pointers[2 * i], value: pointers[2 * i + 1], namelen: buffers[2 * i].count,
                        valuelen: buffers[2 * i + 1].count, flags: 0))
            }
            return nghttp2_submit_request(session, nil, nvs, nvs.count, &provider, nil)
        }
        guard streamID > 0 else { throw Failure(description: "submit") }
        var readBuffer = [UInt8](repeating: 0, count: 65536)
        while !context.response.closed {
            while true {
                var data: UnsafePointer<UInt8>?
                let n = nghttp2_session_mem_send(session, &data)
                guard n > 0, let data else { break }
                var off = 0
                while off < n {
                    let w = write(fd, data + off, n - off)
                    guard w > 0 else { throw Failure(description: "write") }
                    off += w
                }
            }
            if context.response.closed { break }
            let r = readBuffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard r > 0 else { throw Failure(description: "read \(r) errno \(errno)") }
            let rv = readBuffer.withUnsafeBytes {
                nghttp2_session_mem_recv(session, $0.baseAddress?.assumingMemoryBound(to: UInt8.self), r)
            }
            guard rv >= 0 else { throw Failure(description: "mem_recv \(rv)") }
        }
        return context.response
    }
}
