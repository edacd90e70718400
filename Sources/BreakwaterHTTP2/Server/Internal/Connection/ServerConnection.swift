import BreakwaterCore
import Logging
import BreakwaterWire
import CNghttp2

/// The server side of one HTTP/2 connection: validates request headers, creates streams, routes frames,
/// and shuts down gracefully (GOAWAY 2^31-1, PING, GOAWAY last-stream-id, drain, close).
final class ServerConnection: HTTP2SessionDelegate, @unchecked Sendable {
    // Safety: loop-confined like its session (created on the acceptor thread, then handed over).
    // Exclusivity: as in `HTTP2Session`, the loop-confined vars are `@exclusivity(unchecked)`.

    /// The socket and nghttp2 session; reports what arrives to this connection.
    let session: HTTP2Session
    var loop: EventLoop { session.loop }
    var remoteAddress: SocketAddress { session.remoteAddress }
    var isClosed: Bool { session.isClosed }

    let context: ServerTransportContext
    @exclusivity(unchecked) private var streams: [Int32: ServerStream] = [:]
    /// The request header block being received. HTTP/2 sends a header block as one run of frames (HEADERS
    /// then CONTINUATIONs, nothing in between), so at most one is open per connection; the array is reused.
    @exclusivity(unchecked) private var shuttingDown = false
    @exclusivity(unchecked) private var finalGoAwaySent = false
    /// What handlers learn of this connection (its TLS peer once the handshake is done).
    @exclusivity(unchecked) private var info: HTTP2ConnectionInfo
    @exclusivity(unchecked) private var handshakeTimer: UInt64?
    /// Armed until the client's preface and first SETTINGS arrive.
    @exclusivity(unchecked) private var prefaceTimer: UInt64?
    /// Armed while the connection has no stream (`maxConnectionIdle`).
    @exclusivity(unchecked) private var idleTimer: UInt64?
    /// `maxConnectionAge`, then the grace period after its GOAWAY.
    @exclusivity(unchecked) private var ageTimer: UInt64?
    @exclusivity(unchecked) private var graceTimer: UInt64?
    // The timers capture the connection strongly (a weak reference would move its reference counts to a
    // side table and make every retain of it slow) and are all cancelled when the connection closes.
    /// How the client's PINGs are judged (keepalive enforcement).
    @exclusivity(unchecked) private var pingStrikes: PingStrikes
    /// GOAWAY "too_many_pings" is queued: the connection closes once it is out.
    @exclusivity(unchecked) private var refusingPings = false
    private static let tooManyPings: [UInt8] = Array("too_many_pings".utf8)
    /// The client's address in gRPC's peer form, made once for all the connection's requests.
    private lazy var peerDescription = remoteAddress.peerDescription
    private static let shutdownPing: [UInt8] = Array("bwdrain!".utf8)
    /// The transport's logger with this connection's peer on every line.
    private let logger: Logger

    init(loop: EventLoop, fd: Int32, remoteAddress: SocketAddress, context: ServerTransportContext) {
        self.context = context
        info = HTTP2ConnectionInfo(isSecure: context.tls != nil)
        let policy = context.configuration.pingPolicy
        pingStrikes = PingStrikes(
            minimumInterval: policy.minimumInterval, permitWithoutCalls: policy.permitWithoutCalls, maxStrikes: policy.maxStrikes)
        session = HTTP2Session(loop: loop, fd: fd, remoteAddress: remoteAddress, limits: context.configuration.sessionLimits)
        var logger = context.configuration.logger
        logger[metadataKey: "peer"] = "\(remoteAddress.peerDescription)"
        self.logger = logger
    }

    /// Closes the connection now; `reason` nil for a graceful end.
    func close(reason: String?) {
        session.close(reason: reason)
    }

    /// Creates the session and sends SETTINGS. Loop thread.
    func start() {
        // Here, not in init: the session keeps its delegate alive until it closes, and a connection the
        // listener refuses (over the limit, shutting down) is never started, so never closed.
        session.setDelegate(self)
        logger.debug("connection opened")
        let configuration = context.configuration
        if let tlsContext = context.tls {
            guard let tls = TLSSession(context: tlsContext, host: nil) else {
                close(reason: "cannot create TLS session")
                return
            }
            session.tls = tls
            let timeout = configuration.tls?.handshakeTimeout ?? .seconds(10)
            handshakeTimer = loop.scheduleTimer(at: .now + timeout) { [self] in
                handshakeTimer = nil
                if session.tls?.isEstablished == false {
                    close(reason: "TLS handshake timed out after \(timeout)")
                }
            }
        }
        // A stream over MAX_CONCURRENT_STREAMS is a stream error (RFC 9113 section 5.1.2): this connection
        // refuses it with REFUSED_STREAM, which clients retry, in `beginHeaders`. nghttp2 instead ends the
        // whole connection with PROTOCOL_ERROR once the client has acknowledged the limit, so nghttp2 is
        // given a higher limit and the SETTINGS frame on the wire is rewritten to advertise the real one.
        let limit = UInt32(clamping: configuration.maxConcurrentStreams)
        let sessionLimit = max(limit.multipliedReportingOverflow(by: 2).partialValue, limit &+ 100)
        let settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: sessionLimit),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue),
                value: UInt32(clamping: configuration.initialStreamWindowSize)),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: UInt32(clamping: configuration.maxHeaderListSize)),
        ]
        session.settingsOverride = (UInt16(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), limit)
        guard
            session.startSession(
                isServer: true, settings: settings, connectionWindowSize: configuration.connectionWindowSize,
                forcingFallbacks: context.forcingProtectionFallbacks)
        else {
            close(reason: "cannot start HTTP/2 session")
            return
        }
        if session.tls == nil {
            session.holdOutputUntilFirstRead = true
            armPrefaceTimer()
        }
        armIdleTimer()
        // The server PINGs whether or not calls are open: a client that vanished holds resources either way.
        session.startKeepalive(
            configuration.keepalive.map {
                KeepaliveMachine.Policy(
                    time: max($0.time, .milliseconds(10)), timeout: max($0.timeout, .milliseconds(10)), permitWithoutCalls: true)
            }, hasStreams: false)
        if let age = configuration.maxConnectionAge {
            // Plus or minus 10%, so that the connections of a fleet do not all go away at once.
            let jittered = age * Double.random(in: 0.9...1.1)
            ageTimer = loop.scheduleTimer(at: .now + jittered) { [self] in
                ageTimer = nil
                beginShutdown(graceDeadline: configuration.maxConnectionAgeGrace.map { .now + $0 })
            }
        }
        if context.isShuttingDown { beginShutdown(graceDeadline: context.graceDeadline ?? .now) }
    }

    /// The client has `prefaceTimeout` to send the preface and its first SETTINGS.
    private func armPrefaceTimer() {
        let timeout = context.configuration.prefaceTimeout
        prefaceTimer = loop.scheduleTimer(at: .now + timeout) { [self] in
            prefaceTimer = nil
            close(reason: "the client sent no HTTP/2 preface and SETTINGS within \(timeout)")
        }
    }

    private func armIdleTimer() {
        guard let idle = context.configuration.maxConnectionIdle, idleTimer == nil, !shuttingDown else { return }
        idleTimer = loop.scheduleTimer(at: .now + idle) { [self] in
            idleTimer = nil
            if streams.isEmpty { beginShutdown(graceDeadline: .now + .seconds(10)) }
        }
    }

    private func cancelTimer(_ timer: inout UInt64?) {
        if let id = timer { loop.cancelTimer(id) }
        timer = nil
    }

    /// Starts a graceful shutdown; connections still open at `graceDeadline` (if any) are closed.
    func beginShutdown(graceDeadline: ContinuousClock.Instant?) {
        guard !shuttingDown, !isClosed, let nghttp2 = session.nghttp2 else { return }
        shuttingDown = true
        cancelTimer(&idleTimer)
        _ = nghttp2_submit_shutdown_notice(nghttp2)
        logger.debug("GOAWAY sent", metadata: ["reason": "shutting down", "last_stream_id": "2147483647"])
        _ = Self.shutdownPing.withUnsafeBufferPointer { nghttp2_submit_ping(nghttp2, UInt8(NGHTTP2_FLAG_NONE.rawValue), $0.baseAddress) }
        if let graceDeadline {
            graceTimer = loop.scheduleTimer(at: graceDeadline) { [self] in
                graceTimer = nil
                close(reason: "connection shut down (grace period over)")
            }
        }
        session.scheduleFlush()
    }

    /// The client PINGs more often than the policy permits: GOAWAY ENHANCE_YOUR_CALM "too_many_pings"
    /// (gRPC clients double their keepalive time on it), then close once it is out (`sessionSentFrame`).
    private func refusePings() {
        guard !refusingPings, let nghttp2 = session.nghttp2 else { return }
        refusingPings = true
        logger.debug("GOAWAY sent", metadata: ["reason": "too_many_pings", "error": "ENHANCE_YOUR_CALM"])
        _ = Self.tooManyPings.withUnsafeBufferPointer { debug in
            nghttp2_submit_goaway(
                nghttp2, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(nghttp2),
                StatusMapping.HTTP2ErrorCode.enhanceYourCalm.rawValue, debug.baseAddress, debug.count)
        }
        session.scheduleFlush()
    }

    private func sendFinalGoAway() {
        guard !finalGoAwaySent else { return }
        finalGoAwaySent = true
        logger.debug("GOAWAY sent", metadata: ["reason": "shutting down", "last_stream_id": "\(session.nghttp2.map { nghttp2_session_get_last_proc_stream_id($0) } ?? 0)"])
        session.submitGoAway()
    }

    // MARK: Callbacks

    func sessionBeganHeaders(_ frame: UnsafePointer<nghttp2_frame>) -> HeaderBlockChoice {
        // Only a request's first block is read; request trailers carry nothing gRPC uses.
        guard frame.type == UInt32(NGHTTP2_HEADERS.rawValue) && frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST else {
            return .ignore
        }
        if streams.count >= context.configuration.maxConcurrentStreams {
            session.resetStream(frame.streamID, code: StatusMapping.HTTP2ErrorCode.refusedStream.rawValue)
            return .skip
        }
        return .collect
    }

    func sessionReceivedHeaders(_ frame: UnsafePointer<nghttp2_frame>, fields: [HeaderField]?) {
        if let fields {
            startRequest(frame.streamID, fields: fields, endStream: frame.endStream)
        } else if frame.endStream, let stream = streams[frame.streamID] {
            stream.receiveEndOfStream()
        }
    }

    func sessionReceivedFrame(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        switch frame.type {
        case UInt32(NGHTTP2_DATA.rawValue):
            if frame.endStream, let stream = streams[frame.streamID] {
                stream.receiveEndOfStream()
            }
        case UInt32(NGHTTP2_SETTINGS.rawValue):
            if !frame.isAck { cancelTimer(&prefaceTimer) }
        case UInt32(NGHTTP2_GOAWAY.rawValue):
            logger.debug(
                "GOAWAY received",
                metadata: ["error_code": "\(frame.pointee.goaway.error_code)", "last_stream_id": "\(frame.pointee.goaway.last_stream_id)"])
        case UInt32(NGHTTP2_PING.rawValue):
            if frame.isAck {
                if shuttingDown {
                    let opaque = withUnsafeBytes(of: frame.pointee.ping.opaque_data) { Array($0) }
                    if opaque == Self.shutdownPing { sendFinalGoAway() }
                }
            } else if pingStrikes.pingReceived(now: .now, hasStreams: !streams.isEmpty) == .tooMany {
                refusePings()
            }
        default:
            break
        }
        return 0
    }

    private func startRequest(_ streamID: Int32, fields: [HeaderField], endStream: Bool) {
        guard let nghttp2 = session.nghttp2 else { return }
        let configuration = context.configuration
        switch GRPCHeaders.parseRequest(fields, peer: peerDescription, now: .now) {
        case .failure(.http(let status, let message)):
            let response: [HeaderField] = [(":status", String(status)), ("content-type", "text/plain")]
            var body = ByteQueue()
            body.append(Array(message.utf8))
            plainBodies[streamID] = body
            var provider = HTTP2Session.dataProvider
            _ = session.headerScratch.withFields(response) { nva, count in
                nghttp2_submit_response(nghttp2, streamID, nva, count, &provider)
            }
            session.scheduleFlush()
        case .failure(.grpc(let status)):
            respondTrailersOnly(streamID, status)
        case .success(var head):
            head.transportInfo = info
            let stream = ServerStream(
                head: head, loop: loop, streamID: streamID, connection: self,
                maxReceiveMessageBytes: configuration.maxReceiveMessageBytes,
                receiveBufferBytes: configuration.streamReceiveBufferBytes)
            streams[streamID] = stream
            cancelTimer(&idleTimer)
            stream.start(requestEnded: endStream)
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

    func sessionHandledEvents() {
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
        guard let nghttp2 = session.nghttp2 else { return }
        let fields = GRPCHeaders.trailers(status: status, metadata: [:], trailersOnly: true)
        _ = session.headerScratch.withFields(fields) { nva, count in
            nghttp2_submit_response(nghttp2, streamID, nva, count, nil)
        }
        session.scheduleFlush()
    }

    func sessionReceivedData(streamID: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 {
        if let stream = streams[streamID] {
            stream.receiveData(bytes)
        } else {
            session.consume(streamID, bytes.count)
        }
        return 0
    }

    func sessionClosedStream(_ streamID: Int32, errorCode: UInt32) -> Int32 {
        plainBodies[streamID] = nil
        streams.removeValue(forKey: streamID)?.streamClosed(errorCode: errorCode)
        if streams.isEmpty { armIdleTimer() }
        return 0
    }

    func sessionSentFrame(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        // What the server sends makes the client's next PING no strike (grpc-go's rule).
        if frame.type <= UInt32(NGHTTP2_HEADERS.rawValue) {  // DATA (0) or HEADERS (1)
            pingStrikes.sentDataOrHeaders()
        } else if refusingPings && frame.type == UInt32(NGHTTP2_GOAWAY.rawValue) {
            close(reason: "the client sent too many PINGs (GOAWAY ENHANCE_YOUR_CALM too_many_pings)")
            return 0
        }
        // After the trailers of a stream whose request side is still open, tell the client to stop
        // sending (RST_STREAM NO_ERROR), as gRPC servers do.
        if frame.type == UInt32(NGHTTP2_HEADERS.rawValue) && frame.endStream,
            let stream = streams[frame.streamID], stream.machine.resetsAfterTrailers
        {
            session.resetStream(frame.streamID, code: StatusMapping.HTTP2ErrorCode.noError.rawValue)
        }
        return 0
    }

    func sessionReadData(streamID: Int32, into buffer: UnsafeMutableRawBufferPointer, flags: UnsafeMutablePointer<UInt32>) -> Int {
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

    func sessionTLSEstablished(_ tls: TLSSession) -> String? {
        cancelTimer(&handshakeTimer)
        armPrefaceTimer()
        info.peerCertificateSubject = tls.peerCertificateSubject
        return nil
    }

    var sessionHasStreams: Bool { !streams.isEmpty }

    func sessionClosed(reason: String?) {
        cancelTimer(&handshakeTimer)
        cancelTimer(&prefaceTimer)
        cancelTimer(&idleTimer)
        cancelTimer(&ageTimer)
        cancelTimer(&graceTimer)
        let open = streams
        streams.removeAll()
        for stream in open.values {
            stream.streamClosed(errorCode: StatusMapping.HTTP2ErrorCode.cancel.rawValue)
        }
        context.connectionClosed(self)
        logger.debug("connection closed", metadata: ["reason": "\(reason ?? "graceful")"])
    }
}
