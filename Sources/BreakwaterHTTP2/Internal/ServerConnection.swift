import BreakwaterCore
import CNghttp2

/// The server side of one HTTP/2 connection: validates request headers, creates streams, routes frames,
/// and shuts down gracefully (GOAWAY 2^31-1, PING, GOAWAY last-stream-id, drain, close).
final class ServerConnection: HTTP2Connection, @unchecked Sendable {
    // Safety: as `HTTP2Connection`, loop-confined (created on the acceptor thread, then handed over).
    // Exclusivity: as `HTTP2Connection`, the loop-confined vars are `@exclusivity(unchecked)`.

    let context: ServerContext
    @exclusivity(unchecked) private var streams: [Int32: ServerStream] = [:]
    /// The request header block being received. HTTP/2 sends a header block as one run of frames (HEADERS
    /// then CONTINUATIONs, nothing in between), so at most one is open per connection; the array is reused.
    @exclusivity(unchecked) private var blockStreamID: Int32 = 0
    @exclusivity(unchecked) private var blockFields: [HeaderField] = []
    @exclusivity(unchecked) private var blockSize = 0
    @exclusivity(unchecked) private var shuttingDown = false
    @exclusivity(unchecked) private var finalGoAwaySent = false
    /// The subject of the client's TLS certificate, once the handshake is done.
    @exclusivity(unchecked) private var peerCertificateSubject: String?
    @exclusivity(unchecked) private var handshakeTimer: UInt64?
    /// The client's address in gRPC's peer form, made once for all the connection's requests.
    private lazy var peerDescription = remoteAddress.peerDescription
    private static let shutdownPing: [UInt8] = Array("bwdrain!".utf8)

    init(loop: EventLoop, fd: Int32, remoteAddress: SocketAddress, context: ServerContext) {
        self.context = context
        super.init(loop: loop, fd: fd, remoteAddress: remoteAddress)
    }

    /// Creates the session and sends SETTINGS. Loop thread.
    func start() {
        let configuration = context.configuration
        var option: OpaquePointer?
        guard nghttp2_option_new(&option) == 0, let option else {
            close(reason: "cannot create HTTP/2 options")
            return
        }
        defer { nghttp2_option_del(option) }
        nghttp2_option_set_no_auto_window_update(option, 1)
        if let tlsContext = context.tls {
            guard let session = TLSSession(context: tlsContext, host: nil) else {
                close(reason: "cannot create TLS session")
                return
            }
            tls = session
            let timeout = configuration.tls?.handshakeTimeout ?? .seconds(10)
            handshakeTimer = loop.scheduleTimer(at: .now + timeout) { [weak self] in
                guard let self else { return }
                self.handshakeTimer = nil
                if self.tls?.isEstablished == false {
                    self.close(reason: "TLS handshake timed out after \(timeout)")
                }
            }
        }
        guard startSession(isServer: true, option: option), let session else {
            close(reason: "cannot start HTTP/2 session")
            return
        }
        var settings = [
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: UInt32(configuration.maxConcurrentStreams)),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: UInt32(configuration.initialStreamWindowSize)),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: UInt32(configuration.maxHeaderListSize)),
        ]
        _ = nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
        _ = nghttp2_session_set_local_window_size(
            session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(clamping: configuration.connectionWindowSize))
        scheduleFlush()
        if context.isShuttingDown { beginShutdown(graceDeadline: context.graceDeadline ?? .now) }
    }

    /// Starts a graceful shutdown; connections still open at `graceDeadline` are closed.
    func beginShutdown(graceDeadline: ContinuousClock.Instant) {
        guard !shuttingDown, !isClosed, let session else { return }
        shuttingDown = true
        _ = nghttp2_submit_shutdown_notice(session)
        _ = Self.shutdownPing.withUnsafeBufferPointer { nghttp2_submit_ping(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), $0.baseAddress) }
        _ = loop.scheduleTimer(at: graceDeadline) { [self] in
            close(reason: "server shut down (grace period over)")
        }
        scheduleFlush()
    }

    private func sendFinalGoAway() {
        guard !finalGoAwaySent, let session else { return }
        finalGoAwaySent = true
        _ = nghttp2_submit_goaway(
            session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
            StatusMapping.HTTP2ErrorCode.noError.rawValue, nil, 0)
        scheduleFlush()
    }

    // MARK: Callbacks

    override func beginHeaders(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        blockFields.removeAll(keepingCapacity: true)
        blockSize = 0
        if frame.type == UInt32(NGHTTP2_HEADERS.rawValue) && frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST {
            blockStreamID = frame.streamID
        } else {
            blockStreamID = 0
        }
        return 0
    }

    override func header(_ frame: UnsafePointer<nghttp2_frame>, name: String, value: String) -> Int32 {
        guard blockStreamID != 0, frame.streamID == blockStreamID else { return 0 }
        blockSize += name.utf8.count + value.utf8.count + 32
        if blockSize <= context.configuration.maxHeaderListSize {
            blockFields.append((name, value))
        }
        return 0
    }

    override func frameReceived(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        switch frame.type {
        case UInt32(NGHTTP2_HEADERS.rawValue):
            if blockStreamID != 0 && frame.streamID == blockStreamID {
                blockStreamID = 0
                startRequest(frame.streamID, fields: blockFields, size: blockSize, endStream: frame.endStream)
                blockFields.removeAll(keepingCapacity: true)
            } else if frame.endStream, let stream = streams[frame.streamID] {
                stream.receiveEndOfStream()
            }
        case UInt32(NGHTTP2_DATA.rawValue):
            if frame.endStream, let stream = streams[frame.streamID] {
                stream.receiveEndOfStream()
            }
        case UInt32(NGHTTP2_PING.rawValue):
            if frame.isAck && shuttingDown {
                let opaque = withUnsafeBytes(of: frame.pointee.ping.opaque_data) { Array($0) }
                if opaque == Self.shutdownPing { sendFinalGoAway() }
            }
        default:
            break
        }
        return 0
    }

    private func startRequest(_ streamID: Int32, fields: [HeaderField], size: Int, endStream: Bool) {
        guard let session else { return }
        let configuration = context.configuration
        if size > configuration.maxHeaderListSize {
            respondTrailersOnly(
                streamID,
                Status(code: .resourceExhausted, message: "request header list of \(size) bytes is over the limit of \(configuration.maxHeaderListSize)"))
            return
        }
        switch GRPCHeaders.parseRequest(fields, peer: peerDescription, now: .now) {
        case .failure(.http(let status, let message)):
            let response: [HeaderField] = [(":status", String(status)), ("content-type", "text/plain")]
            var body = ByteQueue()
            body.append(Array(message.utf8))
            plainBodies[streamID] = body
            var provider = HTTP2Connection.dataProvider
            _ = headerScratch.withFields(response) { nva, count in
                nghttp2_submit_response(session, streamID, nva, count, &provider)
            }
            scheduleFlush()
        case .failure(.grpc(let status)):
            respondTrailersOnly(streamID, status)
        case .success(var head):
            head.peerCertificateSubject = peerCertificateSubject
            let stream = ServerStream(
                head: head, loop: loop, streamID: streamID, connection: self,
                maxReceiveMessageBytes: configuration.maxReceiveMessageBytes)
            streams[streamID] = stream
            if endStream { stream.receiveEndOfStream() }
            if let deadline = head.deadline {
                stream.deadlineTimer = loop.scheduleTimer(at: deadline) { stream.deadlineExpired() }
            }
            // Handed to the server once nghttp2 has returned (`handledEvents`), not from inside its callback.
            acceptedStreams.append(stream)
        }
    }

    /// Response headers without metadata, for the last encoding asked for (made by Core's
    /// `GRPCHeaders.responseHeaders`, once).
    @exclusivity(unchecked) private var plainResponseHeaders: (CompressionAlgorithm, PreparedHeaderBlock)?
    /// The trailers of an OK status without message or metadata (Core's `GRPCHeaders.trailers`, once).
    private(set) lazy var okTrailers = PreparedHeaderBlock(GRPCHeaders.trailers(status: .ok, metadata: [:], trailersOnly: false))

    /// Response headers without metadata for `encoding`, laid out once per connection.
    func responseHeaders(encoding: CompressionAlgorithm) -> PreparedHeaderBlock {
        if let (cached, block) = plainResponseHeaders, cached == encoding { return block }
        let block = PreparedHeaderBlock(GRPCHeaders.responseHeaders(metadata: [:], encoding: encoding))
        plainResponseHeaders = (encoding, block)
        return block
    }

    /// Streams started during the current `nghttp2_session_mem_recv`, for the server's accept callback.
    @exclusivity(unchecked) private var acceptedStreams: [ServerStream] = []

    override func handledEvents() {
        guard !acceptedStreams.isEmpty else { return }
        let accept = context.acceptStream
        var i = 0
        while i < acceptedStreams.count {
            accept(acceptedStreams[i])
            i += 1
        }
        acceptedStreams.removeAll(keepingCapacity: true)
    }

    /// Bodies of plain HTTP error responses (415, 405), by stream.
    @exclusivity(unchecked) private var plainBodies: [Int32: ByteQueue] = [:]

    private func respondTrailersOnly(_ streamID: Int32, _ status: Status) {
        guard let session else { return }
        let fields = GRPCHeaders.trailers(status: status, metadata: [:], trailersOnly: true)
        _ = headerScratch.withFields(fields) { nva, count in
            nghttp2_submit_response(session, streamID, nva, count, nil)
        }
        scheduleFlush()
    }

    override func dataReceived(streamID: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 {
        if let stream = streams[streamID] {
            stream.receiveData(bytes)
        } else {
            consume(streamID, bytes.count)
        }
        return 0
    }

    override func streamClosed(streamID: Int32, errorCode: UInt32) -> Int32 {
        if streamID == blockStreamID { blockStreamID = 0 }
        plainBodies[streamID] = nil
        streams.removeValue(forKey: streamID)?.streamClosed(errorCode: errorCode)
        return 0
    }

    override func frameSent(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        // After the trailers of a stream whose request side is still open, tell the client to stop
        // sending (RST_STREAM NO_ERROR), as gRPC servers do.
        if frame.type == UInt32(NGHTTP2_HEADERS.rawValue) && frame.endStream,
            let stream = streams[frame.streamID], stream.resetAfterTrailers, !stream.remoteClosed
        {
            resetStream(frame.streamID, code: StatusMapping.HTTP2ErrorCode.noError.rawValue)
        }
        return 0
    }

    override func readData(streamID: Int32, into buffer: UnsafeMutableRawBufferPointer, flags: UnsafeMutablePointer<UInt32>) -> Int {
        if let stream = streams[streamID] {
            return stream.readData(into: buffer, flags: flags)
        }
        if var body = plainBodies[streamID] {
            let n = body.read(into: buffer)
            if body.isEmpty {
                flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
                plainBodies[streamID] = nil
            } else {
                plainBodies[streamID] = body
            }
            return n
        }
        flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
        return 0
    }

    override func tlsEstablished(_ tls: TLSSession) -> String? {
        if let handshakeTimer {
            loop.cancelTimer(handshakeTimer)
            self.handshakeTimer = nil
        }
        peerCertificateSubject = tls.peerCertificateSubject
        return nil
    }

    override func connectionDidClose(reason: String?) {
        if let handshakeTimer {
            loop.cancelTimer(handshakeTimer)
            self.handshakeTimer = nil
        }
        let open = streams
        streams.removeAll()
        for stream in open.values {
            stream.streamClosed(errorCode: StatusMapping.HTTP2ErrorCode.cancel.rawValue)
        }
        context.connectionClosed(self)
    }
}
