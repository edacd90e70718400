import BreakwaterCore
import BreakwaterWire
import CBreakwaterPOSIX
import CNghttp2
#if canImport(Glibc)
import Glibc
#endif

/// One TCP connection with its nghttp2 session, owned by one event loop: nghttp2 does the framing, this
/// class does the I/O (plaintext or TLS) and enforces the limits a hostile peer must not pass (header
/// lists, floods, receive budgets). What nghttp2 decodes goes to the `delegate`, the client or server
/// connection that owns the session.
///
/// Reads go through the loop's shared buffer into `nghttp2_session_mem_recv`; everything nghttp2 wants to
/// send during one loop turn is collected with `nghttp2_session_mem_send` into one buffer and written with
/// as few `send` calls as the socket allows (watching for writability when it is full).
final class HTTP2Session: EventLoopFDHandler, EventLoopTurnObserver, @unchecked Sendable {
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
    @exclusivity(unchecked) var nghttp2: OpaquePointer?
    /// The connection this session reports to. Called through an unowned(unsafe) reference, so that a
    /// callback costs no retain and release; kept alive by `retainedDelegate` from `setDelegate` (when
    /// the connection starts) until the session closes. The connection holds the session too: the cycle
    /// ends at the close, so only a started connection may set itself as delegate.
    @exclusivity(unchecked) unowned(unsafe) private(set) var delegate: (any HTTP2SessionDelegate)?
    @exclusivity(unchecked) private var retainedDelegate: (any HTTP2SessionDelegate)?

    /// Sets the connection this session reports to. Loop thread, or before the session is shared.
    func setDelegate(_ delegate: any HTTP2SessionDelegate) {
        retainedDelegate = delegate
        self.delegate = delegate
    }
    @exclusivity(unchecked) private(set) var isClosed = false

    @exclusivity(unchecked) var writeBuffer: [UInt8] = []
    @exclusivity(unchecked) var writeOffset = 0
    @exclusivity(unchecked) var watchingWritable = false
    @exclusivity(unchecked) var flushScheduled = false
    @exclusivity(unchecked) var registered = false
    /// Set while nghttp2 is calling us back; a close requested then is deferred to the end of the turn.
    @exclusivity(unchecked) var inSessionCall = false
    @exclusivity(unchecked) var pendingCloseReason: String??
    /// TLS between the socket and nghttp2, when the connection is secure; set before `startSession`.
    @exclusivity(unchecked) var tls: TLSSession?
    /// Memory for submitting header blocks.
    let headerScratch = HeaderBlockScratch()
    /// Plaintext from nghttp2 waiting to be encrypted (TLS only), so that frames share records.
    @exclusivity(unchecked) var tlsStaging: [UInt8] = []
    /// Plaintext only: whether the first bytes from the peer were looked at (a TLS peer is told apart).
    @exclusivity(unchecked) var sawFirstBytes = false
    /// Plaintext server: write nothing before the client's first bytes, so that a peer that turns out not
    /// to speak HTTP/2 (an HTTP/1.1 request) gets an answer it can read, not a SETTINGS frame first.
    @exclusivity(unchecked) var holdOutputUntilFirstRead = false
    /// Strings of received header fields, reused across the requests or responses of this connection.
    @exclusivity(unchecked) var headerStrings = HeaderStringCache()

    /// Stop pulling frames from nghttp2 when this much is waiting for the socket.
    static let writeHighWater = 1 << 20

    /// The largest header list accepted from the peer (SETTINGS_MAX_HEADER_LIST_SIZE we advertise).
    let maxInboundHeaderListSize: Int
    /// Flood limits; those the library lacks are enforced here (`ownProtections`).
    let protections: HTTP2Protections
    @exclusivity(unchecked) var ownProtections = SessionOptions(enforceResetRate: false, enforceContinuations: false)
    @exclusivity(unchecked) var resetLimiter: ResetRateLimiter
    /// Bytes of the header block being received (name + value + 32 per field, as RFC 9113 counts them).
    @exclusivity(unchecked) var blockBytes = 0
    /// The stream whose header block is being collected for the delegate (0: none), and its fields.
    @exclusivity(unchecked) var blockStreamID: Int32 = 0
    @exclusivity(unchecked) var blockFields: [HeaderField] = []
    /// CONTINUATION frames since the last HEADERS (counted only when the library does not).
    @exclusivity(unchecked) var continuations = 0
    /// The connection asked nghttp2 to end the session (GOAWAY queued): send it before closing.
    @exclusivity(unchecked) var terminating = false
    /// A value to advertise in the session's first SETTINGS frame instead of the one nghttp2 was given;
    /// see `ServerConnection.start` for why. Applied to the first bytes nghttp2 writes, then cleared.
    @exclusivity(unchecked) var settingsOverride: (id: UInt16, value: UInt32)?

    /// What this connection's streams hold for their readers, against the connection's budget.
    let receiveBudget: ConnectionReceiveBudget

    /// Reads that returned bytes, since the connection opened: what proves the peer alive after a PING.
    @exclusivity(unchecked) private(set) var readCount = 0
    /// When the last of them was made; noted only while keepalive runs with an interval shorter than
    /// `preciseKeepaliveLimit` (otherwise a clock read per read buys nothing: see `KeepaliveMachine`).
    @exclusivity(unchecked) private(set) var lastReadAt = ContinuousClock.now
    @exclusivity(unchecked) private(set) var tracksReadTime = false
    /// Whether keepalive runs at all.
    @exclusivity(unchecked) private(set) var keepaliveConfigured = false
    static let preciseKeepaliveLimit: Duration = .seconds(60)
    /// When to PING the peer and when to give up on it; see `HTTP2Session+Keepalive`.
    @exclusivity(unchecked) var keepalive = KeepaliveMachine(policy: nil)
    @exclusivity(unchecked) var keepaliveTimer: UInt64?

    /// What a peer may make the session take, from the client's or the server's configuration.
    struct Limits {
        var maxInboundHeaderListSize: Int
        var protections: HTTP2Protections
        var receiveBudget: Int
    }

    init(loop: EventLoop, fd: Int32, remoteAddress: SocketAddress, limits: Limits) {
        self.receiveBudget = ConnectionReceiveBudget(limit: limits.receiveBudget, loop: loop)
        self.loop = loop
        self.fd = fd
        self.remoteAddress = remoteAddress
        self.maxInboundHeaderListSize = limits.maxInboundHeaderListSize
        self.protections = limits.protections
        resetLimiter = ResetRateLimiter(
            burst: limits.protections.streamResetBurst, perSecond: limits.protections.streamResetsPerSecond)
    }

    deinit {
        if let session = nghttp2 { nghttp2_session_del(session) }
    }

    /// Creates the session with the connection's protections (and whatever `configure` adds to its
    /// options), sends `settings` and registers the socket. Loop thread. Returns false when it cannot.
    func startSession(
        isServer: Bool, settings: [nghttp2_settings_entry], connectionWindowSize: Int,
        forcingFallbacks: Bool = false, configure: (OpaquePointer) -> Void = { _ in }
    ) -> Bool {
        guard let (option, own) = SessionOptions.make(protections, forcingFallbacks: forcingFallbacks, configure: configure) else {
            return false
        }
        defer { nghttp2_option_del(option) }
        ownProtections = own
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else { return false }
        defer { nghttp2_session_callbacks_del(callbacks) }
        HTTP2Callbacks.install(on: callbacks, countingFrames: own.enforceContinuations)
        var newSession: OpaquePointer?
        let userData = Unmanaged.passUnretained(self).toOpaque()
        let rc =
            isServer
            ? nghttp2_session_server_new2(&newSession, callbacks, userData, option)
            : nghttp2_session_client_new2(&newSession, callbacks, userData, option)
        guard rc == 0, let newSession else { return false }
        nghttp2 = newSession
        var entries = settings
        _ = nghttp2_submit_settings(newSession, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, entries.count)
        _ = nghttp2_session_set_local_window_size(
            newSession, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(clamping: connectionWindowSize))
        guard loop.register(fd: fd, interest: .readable, handler: self) else {
            return false
        }
        registered = true
        scheduleFlush()
        return true
    }

    /// Ends the session with GOAWAY `code` (sent before the socket closes).
    func terminate(code: StatusMapping.HTTP2ErrorCode) {
        guard let session = nghttp2, !terminating else { return }
        terminating = true
        _ = nghttp2_session_terminate_session(session, code.rawValue)
        scheduleFlush()
    }

    func eventLoopStopping() {
        close(reason: "event loop shut down")
    }

    /// Marks the connection as having something to write at the end of this turn.
    func scheduleFlush() {
        guard !flushScheduled, !isClosed else { return }
        flushScheduled = true
        loop.addTurnObserver(self)
    }

    func endOfTurn() {
        flushScheduled = false
        if let reason = pendingCloseReason {
            pendingCloseReason = nil
            close(reason: reason)
            return
        }
        flush()
    }

    // MARK: I/O

    func handleEvents(_ events: IOEvents) {
        if events.contains(.writable) && !isClosed {
            flush()
        }
        if !events.isDisjoint(with: [.readable, .error, .hangUp]) && !isClosed {
            readAvailable()
        }
        delegate?.sessionHandledEvents()
    }

    func readAvailable() {
        let buffer = loop.readBuffer
        guard let base = buffer.baseAddress else { return }
        // A few reads per event keeps one busy connection from starving the others on the loop.
        for _ in 0..<4 {
            guard let session = nghttp2, !isClosed else { return }
            let n = Glibc.read(fd, base, buffer.count)
            if n > 0 { countRead() }
            if n > 0, let tls {
                guard receiveTLS(tls, UnsafeRawBufferPointer(start: base, count: n)) else { return }
                scheduleFlush()
                if n < buffer.count { return }
            } else if n > 0 {
                if !sawFirstBytes {
                    sawFirstBytes = true
                    if Self.looksLikeTLS(UnsafeRawBufferPointer(start: base, count: n)) {
                        // Our SETTINGS and a GOAWAY (not TLS) tell a TLS client what it reached.
                        gatherFinalFrames()
                        queueRaw(Self.goAway(.protocolError, reason: "TLS on a plaintext h2c port"))
                        close(reason: "the peer speaks TLS but this connection is plaintext h2c (configure TLS on both sides, or neither)")
                        return
                    }
                }
                inSessionCall = true
                let rv = nghttp2_session_mem_recv(session, base.assumingMemoryBound(to: UInt8.self), n)
                inSessionCall = false
                if rv < 0 {
                    receiveFailed(Int32(rv), UnsafeRawBufferPointer(start: base, count: n))
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
    func flush() {
        if holdOutputUntilFirstRead && !sawFirstBytes { return }
        while let session = nghttp2, !isClosed {
            // Gather.
            var produced = false
            if let tls {
                guard gatherTLS(tls, session, produced: &produced) else { return }
            }
            if tls == nil {
                // The write buffer holds at most about `writeHighWater` not yet written.
                guard let more = pullFrames(session, into: &writeBuffer, below: writeOffset + HTTP2Session.writeHighWater) else {
                    return
                }
                produced = produced || more
            }
            if let reason = pendingCloseReason {
                pendingCloseReason = nil
                close(reason: reason)
                return
            }
            // Write.
            while writeOffset < writeBuffer.count {
                // send(MSG_NOSIGNAL), not write: a peer that vanished must cost this connection an EPIPE,
                // not the process a SIGPIPE.
                let n = writeBuffer.withUnsafeBytes { raw -> Int in
                    Glibc.send(fd, raw.baseAddress.map { $0 + writeOffset }, raw.count - writeOffset, Int32(MSG_NOSIGNAL))
                }
                if n > 0 {
                    writeOffset += n
                } else if n < 0 && errno == EINTR {
                    continue
                } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                    if !watchingWritable {
                        watchingWritable = true
                        loop.modify(fd: fd, interest: [.readable, .writable])
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
                loop.modify(fd: fd, interest: .readable)
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
    func close(reason: String?) {
        guard !isClosed else { return }
        if inSessionCall {
            if pendingCloseReason == nil { pendingCloseReason = .some(reason) }
            scheduleFlush()
            return
        }
        isClosed = true
        stopKeepaliveTimer()
        if registered {
            loop.unregister(fd: fd)
            registered = false
        }
        if let tls {
            sendFinalTLSRecords(tls)
        } else if writeOffset < writeBuffer.count {
            // Whatever is still unwritten (a GOAWAY, an HTTP/1.1 400) gets one try, without waiting.
            _ = writeBuffer.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress.map { $0 + writeOffset }, raw.count - writeOffset, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            }
        }
        writeBuffer = []
        writeOffset = 0
        Glibc.close(fd)
        delegate?.sessionClosed(reason: reason)
        delegate = nil
        retainedDelegate = nil
        if let session = nghttp2 {
            nghttp2_session_del(session)
            nghttp2 = nil
        }
    }

    @inline(__always) private func countRead() {
        readCount &+= 1
        if tracksReadTime { lastReadAt = .now }
    }

    /// Starts keepalive with `policy` (or none). Loop thread.
    func startKeepalive(_ policy: KeepaliveMachine.Policy?, hasStreams: Bool) {
        keepalive = KeepaliveMachine(policy: policy)
        keepaliveConfigured = policy != nil
        tracksReadTime = policy.map { $0.time < Self.preciseKeepaliveLimit } ?? false
        lastReadAt = .now
        keepaliveAct(keepalive.start(now: .now, reads: readCount, hasStreams: hasStreams))
    }

    // MARK: For the connection and its streams

    /// Submits RST_STREAM for `streamID`.
    func resetStream(_ streamID: Int32, code: UInt32) {
        guard let session = nghttp2, streamID > 0 else { return }
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, code)
        scheduleFlush()
    }

    /// Returns `count` received bytes to the stream and connection flow-control windows.
    func consume(_ streamID: Int32, _ count: Int) {
        guard let session = nghttp2, count > 0 else { return }
        if streamID > 0 {
            _ = nghttp2_session_consume(session, streamID, count)
        } else {
            _ = nghttp2_session_consume_connection(session, count)
        }
        scheduleFlush()
    }

    /// Submits GOAWAY NO_ERROR with the last stream this side processed: streams above it were never
    /// taken (and may be retried elsewhere); the connection closes once the others are done.
    func submitGoAway() {
        guard let session = nghttp2 else { return }
        _ = nghttp2_submit_goaway(
            session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
            StatusMapping.HTTP2ErrorCode.noError.rawValue, nil, 0)
        scheduleFlush()
    }

    /// Pulls the frames nghttp2 has ready into `buffer` while `buffer` holds less than `limit` (applying
    /// `settingsOverride` to the first). Returns whether any were produced, or nil when nghttp2 failed
    /// (the connection is then closing).
    func pullFrames(_ session: OpaquePointer, into buffer: inout [UInt8], below limit: Int) -> Bool? {
        var produced = false
        while buffer.count < limit {
            var pointer: UnsafePointer<UInt8>?
            inSessionCall = true
            let n = nghttp2_session_mem_send(session, &pointer)
            inSessionCall = false
            if n < 0 {
                close(reason: "HTTP/2 error: \(String(cString: nghttp2_strerror(Int32(n))))")
                return nil
            }
            guard n > 0, let pointer else { break }
            let start = buffer.count
            buffer.append(contentsOf: UnsafeBufferPointer(start: pointer, count: n))
            if settingsOverride != nil { applySettingsOverride(&buffer, from: start) }
            produced = true
        }
        return produced
    }

    /// Resumes a deferred data provider.
    func resumeData(_ streamID: Int32) {
        guard let session = nghttp2, streamID > 0 else { return }
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
                let session = Unmanaged<HTTP2Session>.fromOpaque(userData).takeUnretainedValue()
                let out = UnsafeMutableRawBufferPointer(start: buffer, count: length)
                return session.delegate?.sessionReadData(streamID: streamID, into: out, flags: flags)
                    ?? Int(NGHTTP2_ERR_DEFERRED.rawValue)
            })
    }

    // MARK: Forwarded to the delegate

    func receiveData(streamID: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 {
        delegate?.sessionReceivedData(streamID: streamID, bytes) ?? 0
    }

    func receiveStreamClose(_ streamID: Int32, errorCode: UInt32) -> Int32 {
        if streamID == blockStreamID { blockStreamID = 0 }
        return delegate?.sessionClosedStream(streamID, errorCode: errorCode) ?? 0
    }

    func frameSent(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        delegate?.sessionSentFrame(frame) ?? 0
    }

    func frameNotSent(_ frame: UnsafePointer<nghttp2_frame>, error: Int32) -> Int32 {
        delegate?.sessionCouldNotSend(frame, error: error) ?? 0
    }
}
