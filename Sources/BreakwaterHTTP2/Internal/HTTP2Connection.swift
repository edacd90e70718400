import BreakwaterCore
import CBreakwaterShims
import CNghttp2
#if canImport(Glibc)
import Glibc
#endif

/// One TCP connection with its nghttp2 session, owned by one event loop: the session does the framing,
/// this class does the I/O. Subclasses (client, server) implement the frame and stream callbacks.
///
/// Reads go through the loop's shared buffer into `nghttp2_session_mem_recv`; everything nghttp2 wants to
/// send during one loop turn is collected with `nghttp2_session_mem_send` into one buffer and written with
/// as few `write` calls as the socket allows (EPOLLOUT when it is full).
class HTTP2Connection: EventLoopFDHandler, EventLoopTurnObserver, @unchecked Sendable {
    // Safety: every stored property is touched only on `loop`'s thread (the object is created elsewhere
    // at most, and handed to the loop before any use).
    // Exclusivity: the loop-confined vars are `@exclusivity(unchecked)`. Swift checks accesses to class
    // properties at run time (a thread-local access set, ~100 instructions per access, ~56 accesses per
    // unary request on the server); these are touched by one thread, and no access to one of them spans a
    // call that could reach it again (mutating methods called on them are plain data structures). The
    // test suite passed with the checks on before they were turned off.

    let loop: EventLoop
    let fd: Int32
    let remoteAddress: SocketAddress
    /// The nghttp2 session; nil once the connection is closed.
    @exclusivity(unchecked) var session: OpaquePointer?
    @exclusivity(unchecked) private(set) var isClosed = false

    @exclusivity(unchecked) private var writeBuffer: [UInt8] = []
    @exclusivity(unchecked) private var writeOffset = 0
    @exclusivity(unchecked) private var watchingWritable = false
    @exclusivity(unchecked) private var flushScheduled = false
    @exclusivity(unchecked) private var registered = false
    /// Set while nghttp2 is calling us back; a close requested then is deferred to the end of the turn.
    @exclusivity(unchecked) private var inSessionCall = false
    @exclusivity(unchecked) private var pendingCloseReason: String??
    /// TLS between the socket and nghttp2, when the connection is secure; set before `startSession`.
    @exclusivity(unchecked) var tls: TLSSession?
    /// Memory for submitting header blocks.
    let headerScratch = HeaderBlockScratch()
    /// Plaintext from nghttp2 waiting to be encrypted (TLS only), so that frames share records.
    @exclusivity(unchecked) private var tlsStaging: [UInt8] = []
    /// Plaintext only: whether the first bytes from the peer were looked at (a TLS peer is told apart).
    @exclusivity(unchecked) private var sawFirstBytes = false
    /// Strings of received header fields, reused across the requests or responses of this connection.
    @exclusivity(unchecked) private var headerStrings = HeaderStringCache()

    /// Stop pulling frames from nghttp2 when this much is waiting for the socket.
    private static let writeHighWater = 1 << 20

    init(loop: EventLoop, fd: Int32, remoteAddress: SocketAddress) {
        self.loop = loop
        self.fd = fd
        self.remoteAddress = remoteAddress
    }

    deinit {
        if let session { nghttp2_session_del(session) }
    }

    /// Creates the session and registers the socket. Loop thread. Returns false when it cannot.
    func startSession(isServer: Bool, option: OpaquePointer?) -> Bool {
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else { return false }
        defer { nghttp2_session_callbacks_del(callbacks) }
        HTTP2Callbacks.install(on: callbacks)
        var newSession: OpaquePointer?
        let userData = Unmanaged.passUnretained(self).toOpaque()
        let rc =
            isServer
            ? nghttp2_session_server_new2(&newSession, callbacks, userData, option)
            : nghttp2_session_client_new2(&newSession, callbacks, userData, option)
        guard rc == 0, let newSession else { return false }
        session = newSession
        guard loop.register(fd: fd, events: BW_EPOLLIN | BW_EPOLLRDHUP, handler: self) else {
            return false
        }
        registered = true
        return true
    }

    /// Marks the connection as having something to write at the end of this turn.
    final func scheduleFlush() {
        guard !flushScheduled, !isClosed else { return }
        flushScheduled = true
        loop.addTurnObserver(self)
    }

    final func endOfTurn() {
        flushScheduled = false
        if let reason = pendingCloseReason {
            pendingCloseReason = nil
            close(reason: reason)
            return
        }
        flush()
    }

    // MARK: I/O

    final func handleEvents(_ events: UInt32) {
        if events & BW_EPOLLOUT != 0 && !isClosed {
            flush()
        }
        if events & (BW_EPOLLIN | BW_EPOLLERR | BW_EPOLLHUP | BW_EPOLLRDHUP) != 0 && !isClosed {
            readAvailable()
        }
        handledEvents()
    }

    private func readAvailable() {
        let buffer = loop.readBuffer
        guard let base = buffer.baseAddress else { return }
        // A few reads per event keeps one busy connection from starving the others on the loop.
        for _ in 0..<4 {
            guard let session, !isClosed else { return }
            let n = Glibc.read(fd, base, buffer.count)
            if n > 0, let tls {
                guard receiveTLS(tls, UnsafeRawBufferPointer(start: base, count: n)) else { return }
                scheduleFlush()
                if n < buffer.count { return }
            } else if n > 0 {
                if !sawFirstBytes {
                    sawFirstBytes = true
                    if Self.looksLikeTLS(UnsafeRawBufferPointer(start: base, count: n)) {
                        close(reason: "the peer speaks TLS but this connection is plaintext h2c (configure TLS on both sides, or neither)")
                        return
                    }
                }
                inSessionCall = true
                let rv = nghttp2_session_mem_recv(session, base.assumingMemoryBound(to: UInt8.self), n)
                inSessionCall = false
                if rv < 0 {
                    close(reason: "HTTP/2 protocol error (\(String(cString: nghttp2_strerror(Int32(rv)))))")
                    return
                }
                scheduleFlush()
                if n < buffer.count { return }
            } else if n == 0 {
                if let tls, !tls.isEstablished {
                    close(reason: "TLS handshake failed: connection closed by peer during the handshake (is it speaking TLS?)")
                    return
                }
                if let tls, !tls.context.isServer, !tls.receivedApplicationData {
                    // TLS 1.3 clients finish their handshake before the server has checked their
                    // certificate; a server that refuses it may just close.
                    close(reason: "TLS: connection closed by peer right after the handshake (did it refuse our client certificate?)")
                    return
                }
                close(reason: "connection closed by peer")
                return
            } else {
                let err = errno
                if err == EAGAIN || err == EWOULDBLOCK { return }
                if err == EINTR { continue }
                close(reason: Socket.describe(err))
                return
            }
        }
        scheduleFlush()
    }

    /// Pulls every frame nghttp2 has ready into the write buffer and writes it out.
    final func flush() {
        while let session, !isClosed {
            // Gather.
            var produced = false
            if let tls {
                guard gatherTLS(tls, session, produced: &produced) else { return }
            }
            while tls == nil && writeBuffer.count - writeOffset < HTTP2Connection.writeHighWater {
                var pointer: UnsafePointer<UInt8>?
                inSessionCall = true
                let n = nghttp2_session_mem_send(session, &pointer)
                inSessionCall = false
                if n < 0 {
                    close(reason: "HTTP/2 error: \(String(cString: nghttp2_strerror(Int32(n))))")
                    return
                }
                guard n > 0, let pointer else { break }
                writeBuffer.append(contentsOf: UnsafeBufferPointer(start: pointer, count: n))
                produced = true
            }
            if let reason = pendingCloseReason {
                pendingCloseReason = nil
                close(reason: reason)
                return
            }
            // Write.
            while writeOffset < writeBuffer.count {
                let n = writeBuffer.withUnsafeBytes { raw -> Int in
                    Glibc.write(fd, raw.baseAddress.map { $0 + writeOffset }, raw.count - writeOffset)
                }
                if n > 0 {
                    writeOffset += n
                } else if n < 0 && errno == EINTR {
                    continue
                } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                    if !watchingWritable {
                        watchingWritable = true
                        loop.modify(fd: fd, events: BW_EPOLLIN | BW_EPOLLRDHUP | BW_EPOLLOUT)
                    }
                    return
                } else {
                    close(reason: Socket.describe(errno))
                    return
                }
            }
            if writeBuffer.capacity > 4 << 20 {
                writeBuffer = []
            } else {
                writeBuffer.removeAll(keepingCapacity: true)
            }
            writeOffset = 0
            if watchingWritable {
                watchingWritable = false
                loop.modify(fd: fd, events: BW_EPOLLIN | BW_EPOLLRDHUP)
            }
            if !produced {
                if nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0 {
                    close(reason: nil)
                }
                return
            }
        }
    }

    /// Closes the socket and the session; `reason` nil for a graceful end. Safe to call from nghttp2
    /// callbacks (the close then happens when the session call returns).
    final func close(reason: String?) {
        guard !isClosed else { return }
        if inSessionCall {
            if pendingCloseReason == nil { pendingCloseReason = .some(reason) }
            scheduleFlush()
            return
        }
        isClosed = true
        if registered {
            loop.unregister(fd: fd)
            registered = false
        }
        if let tls { sendFinalTLSRecords(tls) }
        Glibc.close(fd)
        connectionDidClose(reason: reason)
        if let session {
            nghttp2_session_del(session)
            self.session = nil
        }
    }

    // MARK: TLS

    /// Whether the first bytes received look like a TLS record (handshake or alert, version 3.x).
    private static func looksLikeTLS(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 3 && (bytes[0] == 0x16 || bytes[0] == 0x15) && bytes[1] == 0x03 && bytes[2] <= 0x04
    }

    /// Advances the handshake; on success lets the subclass look at the peer. False when it closed.
    private func advanceHandshake(_ tls: TLSSession) -> Bool {
        switch tls.handshake() {
        case .wantMore:
            return true
        case .failed(let reason):
            close(reason: reason)
            return false
        case .done:
            if let reason = tlsEstablished(tls) {
                close(reason: reason)
                return false
            }
            scheduleFlush()
            return true
        }
    }

    /// Ciphertext from the socket: handshake, then every complete record's plaintext into nghttp2.
    /// False when the connection closed.
    private func receiveTLS(_ tls: TLSSession, _ bytes: UnsafeRawBufferPointer) -> Bool {
        if let reason = tls.feed(bytes) {
            close(reason: reason)
            return false
        }
        if !tls.isEstablished {
            guard advanceHandshake(tls) else { return false }
            if !tls.isEstablished { return true }
        }
        while let session, !isClosed {
            switch tls.read() {
            case .data(let plaintext):
                inSessionCall = true
                let rv = plaintext.withMemoryRebound(to: UInt8.self) { nghttp2_session_mem_recv(session, $0.baseAddress, $0.count) }
                inSessionCall = false
                if rv < 0 {
                    close(reason: "HTTP/2 protocol error (\(String(cString: nghttp2_strerror(Int32(rv)))))")
                    return false
                }
            case .wantMore:
                return true
            case .closed:
                close(reason: "connection closed by peer")
                return false
            case .failed(let reason):
                close(reason: reason)
                return false
            }
        }
        return false
    }

    /// TLS version of gathering: handshake output, or nghttp2's frames encrypted, into the write buffer.
    /// False when the connection closed.
    private func gatherTLS(_ tls: TLSSession, _ session: OpaquePointer, produced: inout Bool) -> Bool {
        if !tls.isEstablished {
            guard advanceHandshake(tls) else { return false }
        }
        if tls.isEstablished {
            while writeBuffer.count - writeOffset + tlsStaging.count < HTTP2Connection.writeHighWater {
                var pointer: UnsafePointer<UInt8>?
                inSessionCall = true
                let n = nghttp2_session_mem_send(session, &pointer)
                inSessionCall = false
                if n < 0 {
                    close(reason: "HTTP/2 error: \(String(cString: nghttp2_strerror(Int32(n))))")
                    return false
                }
                guard n > 0, let pointer else { break }
                tlsStaging.append(contentsOf: UnsafeBufferPointer(start: pointer, count: n))
                produced = true
            }
            if !tlsStaging.isEmpty {
                let failure = tlsStaging.withUnsafeBytes { tls.write($0) }
                if tlsStaging.capacity > 4 << 20 {
                    tlsStaging = []
                } else {
                    tlsStaging.removeAll(keepingCapacity: true)
                }
                if let failure {
                    close(reason: failure)
                    return false
                }
            }
        }
        tls.drainCiphertext(into: &writeBuffer)
        return true
    }

    /// Before the socket closes: close_notify (or the alert of a failed handshake), written once without
    /// waiting, after whatever is still unwritten.
    private func sendFinalTLSRecords(_ tls: TLSSession) {
        tls.shutdown()
        guard tls.hasCiphertext else { return }
        var tail: [UInt8] = []
        if writeOffset < writeBuffer.count { tail.append(contentsOf: writeBuffer[writeOffset...]) }
        tls.drainCiphertext(into: &tail)
        writeBuffer = []
        writeOffset = 0
        _ = tail.withUnsafeBytes { raw in Glibc.send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL)) }
    }

    /// One received header field, from nghttp2: made into strings (reused when the bytes repeat).
    final func receiveHeader(
        _ frame: UnsafePointer<nghttp2_frame>, name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>
    ) -> Int32 {
        let (n, v) = headerStrings.field(name: name, value: value)
        return header(frame, name: n, value: v)
    }

    /// A header block begins, from nghttp2.
    final func receiveBeginHeaders(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let kind = frame.type == UInt32(NGHTTP2_HEADERS.rawValue) ? Int(frame.pointee.headers.cat.rawValue) : -1
        headerStrings.beginBlock(kind: kind)
        return beginHeaders(frame)
    }

    // MARK: Helpers for subclasses

    /// Submits RST_STREAM for `streamID`.
    final func resetStream(_ streamID: Int32, code: UInt32) {
        guard let session, streamID > 0 else { return }
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, code)
        scheduleFlush()
    }

    /// Returns `count` received bytes to the stream and connection flow-control windows.
    final func consume(_ streamID: Int32, _ count: Int) {
        guard let session, count > 0 else { return }
        if streamID > 0 {
            _ = nghttp2_session_consume(session, streamID, count)
        } else {
            _ = nghttp2_session_consume_connection(session, count)
        }
        scheduleFlush()
    }

    /// Resumes a deferred data provider.
    final func resumeData(_ streamID: Int32) {
        guard let session, streamID > 0 else { return }
        _ = nghttp2_session_resume_data(session, streamID)
        scheduleFlush()
    }

    /// The data provider used for every stream: nghttp2 calls back `readData`.
    static var dataProvider: nghttp2_data_provider {
        nghttp2_data_provider(
            source: nghttp2_data_source(ptr: nil),
            read_callback: { _, streamID, buffer, length, flags, _, userData in
                guard let userData, let buffer, let flags else {
                    return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue)
                }
                let connection = Unmanaged<HTTP2Connection>.fromOpaque(userData).takeUnretainedValue()
                return connection.readData(
                    streamID: streamID, into: UnsafeMutableRawBufferPointer(start: buffer, count: length), flags: flags)
            })
    }

    // MARK: Overridden by subclasses

    /// The connection's readiness events were handled (nghttp2 is not calling back now).
    func handledEvents() {}
    /// The socket and session are gone; fail every stream. `reason` nil for a graceful close.
    func connectionDidClose(reason: String?) {}
    /// The TLS handshake finished (ALPN h2 agreed). Return a reason to close the connection instead.
    func tlsEstablished(_ tls: TLSSession) -> String? { nil }
    /// A header block begins.
    func beginHeaders(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 { 0 }
    /// One header field of the current block. Return non-zero to reset the stream.
    func header(_ frame: UnsafePointer<nghttp2_frame>, name: String, value: String) -> Int32 { 0 }
    /// A whole frame was received.
    func frameReceived(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 { 0 }
    /// A chunk of DATA for `streamID`.
    func dataReceived(streamID: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 { 0 }
    /// The stream closed with `errorCode` (0 when it ended normally).
    func streamClosed(streamID: Int32, errorCode: UInt32) -> Int32 { 0 }
    /// A frame was written to the session's output.
    func frameSent(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 { 0 }
    /// A frame could not be sent (e.g. a request after GOAWAY).
    func frameNotSent(_ frame: UnsafePointer<nghttp2_frame>, error: Int32) -> Int32 { 0 }
    /// Fill `buffer` with DATA for `streamID`; return the count, or NGHTTP2_ERR_DEFERRED.
    func readData(streamID: Int32, into buffer: UnsafeMutableRawBufferPointer, flags: UnsafeMutablePointer<UInt32>) -> Int {
        Int(NGHTTP2_ERR_DEFERRED.rawValue)
    }
}
