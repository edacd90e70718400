import BreakwaterCore
import BreakwaterWire
import CNghttp2

/// The client side of one HTTP/2 connection: submits requests, routes response frames to streams. Its
/// `HTTP2Session` does the I/O and tells it what arrived.
final class ClientConnection: HTTP2SessionDelegate, @unchecked Sendable {
    // Safety: loop-confined like its session (created on the loop); its vars are `@exclusivity(unchecked)`
    // for the reasons given in `HTTP2Session`.

    let session: HTTP2Session
    var loop: EventLoop { session.loop }
    var remoteAddress: SocketAddress { session.remoteAddress }

    let manager: ClientConnectionManager
    let configuration: HTTP2ClientTransport.Configuration
    let authority: String
    @exclusivity(unchecked) private(set) var streams: [Int32: ClientStream] = [:]
    @exclusivity(unchecked) private(set) var receivedSettings = false
    @exclusivity(unchecked) private(set) var goingAway = false
    /// Probes waiting for this connection to show it is alive: anything read after their PING starts
    /// them; a connection that dies or goes away first hands them back to the manager.
    @exclusivity(unchecked) private var heldProbes: [ClientStream] = []
    /// Streams started since the idle timer last looked, and the timer.
    @exclusivity(unchecked) private var startedSinceIdleCheck = 0
    @exclusivity(unchecked) private var idleTimer: UInt64?

    init(loop: EventLoop, fd: Int32, remoteAddress: SocketAddress, manager: ClientConnectionManager, authority: String) {
        self.manager = manager
        self.configuration = manager.configuration
        self.authority = authority
        session = HTTP2Session(loop: loop, fd: fd, remoteAddress: remoteAddress, limits: manager.configuration.sessionLimits)
    }

    /// Closes the connection now; `reason` nil for a graceful end.
    func close(reason: String?) {
        session.close(reason: reason)
    }

    /// Creates the session, sends the preface and SETTINGS. Returns false when it cannot.
    func start() -> Bool {
        // Here, as on the server: the session keeps its delegate alive from now until it closes.
        session.setDelegate(self)
        if let tlsContext = manager.tlsContext {
            guard let tls = TLSSession(context: tlsContext, host: manager.host) else { return false }
            session.tls = tls
        }
        let settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue),
                value: UInt32(clamping: configuration.initialStreamWindowSize)),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: UInt32(clamping: configuration.maxHeaderListSize)),
        ]
        return session.startSession(isServer: false, settings: settings, connectionWindowSize: configuration.connectionWindowSize) { option in
            nghttp2_option_set_peer_max_concurrent_streams(option, 100)
        }
    }

    /// Whether new streams may go to this connection.
    var isUsable: Bool { !session.isClosed && !goingAway }

    /// Submits the request headers of `stream` (nghttp2 queues it beyond MAX_CONCURRENT_STREAMS).
    func startStream(_ stream: ClientStream) {
        guard let nghttp2 = session.nghttp2, !stream.isEnded else { return }
        let fields = GRPCHeaders.requestHeaders(
            for: stream.head, authority: authority, scheme: session.tls == nil ? "http" : "https", userAgent: configuration.userAgent, now: .now)
        var provider = HTTP2Session.dataProvider
        let id = session.headerScratch.withFields(fields) { nva, count in
            nghttp2_submit_request(nghttp2, nil, nva, count, &provider, nil)
        }
        guard id > 0 else {
            stream.fail(
                Status(code: .unavailable, message: "cannot start stream: \(String(cString: nghttp2_strerror(id))): \(remoteAddress)"),
                neverReachedServer: true)
            return
        }
        stream.started(id: id, on: self)
        startedSinceIdleCheck &+= 1
        // A Bool test per call when keepalive is off; the first stream after none wakes it when on.
        if session.keepaliveConfigured && streams.isEmpty { session.keepaliveStreamsBecameActive() }
        streams[id] = stream
        loop.openClientStreams += 1
        session.scheduleFlush()
    }

    /// Starts the probe `stream` once the connection shows it is alive: a PING goes out (unless one is
    /// out already), anything read after it starts the probe, and nothing within `bound` closes the
    /// connection, which hands the probe back to the manager for a new one. A probe is one call, but its
    /// verdict reopens or closes a breaker for every caller: it must not be spent on a dead connection.
    func startAfterProofOfLife(_ stream: ClientStream, bound: Duration) {
        guard isUsable else {
            manager.reopen(stream)
            return
        }
        heldProbes.append(stream)
        session.pingBeforeProbe(bound: max(bound, .milliseconds(10)))
    }

    /// A held probe ended (deadline, cancel) before the connection answered.
    func forgetHeld(_ stream: ClientStream) {
        if !heldProbes.isEmpty { heldProbes.removeAll { $0 === stream } }
    }

    /// Something was read after the probes' PING: the connection is alive, they start.
    private func startHeldProbes() {
        let probes = heldProbes
        heldProbes.removeAll()
        for probe in probes where !probe.isEnded { startStream(probe) }
    }

    /// The connection is going away or gone: held probes go back to the manager.
    func rerouteHeld() {
        let probes = heldProbes
        heldProbes.removeAll()
        for probe in probes { manager.reopen(probe) }
    }

    /// Watches for a connection without calls: each `period`, one that started none and has none open
    /// is handed to the manager to close. A counter per call, no clock read.
    private func armIdleTimer(_ period: Duration) {
        // Strong: cancelled when the session closes (a weak capture would slow every retain).
        idleTimer = loop.scheduleTimer(at: .now + period) { [self] in
            idleTimer = nil
            guard !session.isClosed, !goingAway else { return }
            if streams.isEmpty && heldProbes.isEmpty && startedSinceIdleCheck == 0 {
                manager.connectionIdle(self)
            } else {
                startedSinceIdleCheck = 0
                armIdleTimer(period)
            }
        }
    }

    /// A call on this connection ended by its deadline or cancellation with nothing read from the
    /// connection since it started: PING it, unless configured not to.
    func callEndedSilently() {
        guard let bound = configuration.silentConnectionPingTimeout else { return }
        session.pingAfterSilentCall(bound: max(bound, .milliseconds(10)))
    }

    /// Sends GOAWAY; the connection closes once its streams are done.
    func closeGracefully() {
        guard session.nghttp2 != nil else { return }
        goingAway = true
        session.submitGoAway()
    }

    // MARK: Callbacks

    func sessionBeganHeaders(_ frame: UnsafePointer<nghttp2_frame>) -> HeaderBlockChoice {
        // A stream we no longer track (cancelled, failed) has nobody to read its headers.
        streams[frame.streamID] == nil ? .ignore : .collect
    }

    func sessionAbandonedHeaders(_ frame: UnsafePointer<nghttp2_frame>) {
        if let stream = streams[frame.streamID] {
            stream.fail(
                Status(
                    code: .resourceExhausted,
                    message: "response header list is over the limit of \(session.maxInboundHeaderListSize) bytes: \(remoteAddress)"),
                reset: StatusMapping.HTTP2ErrorCode.cancel.rawValue)
        }
    }

    func sessionReceivedHeaders(_ frame: UnsafePointer<nghttp2_frame>, fields: [HeaderField]?) {
        if let fields, let stream = streams[frame.streamID] {
            stream.receiveHeaderBlock(fields, endStream: frame.endStream)
        }
    }

    func sessionReceivedFrame(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        if !heldProbes.isEmpty && receivedSettings { startHeldProbes() }
        switch frame.type {
        case UInt32(NGHTTP2_DATA.rawValue):
            if frame.endStream, let stream = streams[frame.streamID] {
                stream.receiveEndOfStream()
            }
        case UInt32(NGHTTP2_SETTINGS.rawValue):
            if !frame.isAck && !receivedSettings {
                receivedSettings = true
                startedSinceIdleCheck = 0
                if let idle = configuration.idleTimeout { armIdleTimer(max(idle, .milliseconds(10))) }
                manager.connectionReady(self)
                // After the waiting streams started: keepalive begins awake when there are any.
                session.startKeepalive(manager.keepalive?.policy, hasStreams: !streams.isEmpty)
            }
        case UInt32(NGHTTP2_GOAWAY.rawValue):
            configuration.logger.debug(
                "GOAWAY received",
                metadata: [
                    "peer": "\(remoteAddress)", "error_code": "\(frame.pointee.goaway.error_code)",
                    "last_stream_id": "\(frame.pointee.goaway.last_stream_id)",
                ])
            if Self.isTooManyPings(frame.pointee.goaway) { manager.serverSaidTooManyPings() }
            if !goingAway {
                goingAway = true
                manager.connectionGoingAway(self)
            }
        default:
            break
        }
        return 0
    }

    private static let tooManyPings: [UInt8] = Array("too_many_pings".utf8)

    /// GOAWAY ENHANCE_YOUR_CALM with debug data "too_many_pings": the server's keepalive enforcement.
    static func isTooManyPings(_ goAway: nghttp2_goaway) -> Bool {
        guard goAway.error_code == StatusMapping.HTTP2ErrorCode.enhanceYourCalm.rawValue,
            let data = goAway.opaque_data, goAway.opaque_data_len == tooManyPings.count
        else { return false }
        return UnsafeBufferPointer(start: data, count: goAway.opaque_data_len).elementsEqual(tooManyPings)
    }

    func sessionReceivedData(streamID: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 {
        if let stream = streams[streamID], !stream.isEnded {
            stream.receiveData(bytes)
        } else {
            session.consume(streamID, bytes.count)
        }
        return 0
    }

    func sessionClosedStream(_ streamID: Int32, errorCode: UInt32) -> Int32 {
        guard let stream = streams.removeValue(forKey: streamID) else { return 0 }
        loop.openClientStreams -= 1
        stream.streamClosed(errorCode: errorCode)
        return 0
    }

    func sessionSentFrame(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        if frame.type == UInt32(NGHTTP2_HEADERS.rawValue), let stream = streams[frame.streamID] {
            stream.requestHeadersSent()
        }
        return 0
    }

    func sessionCouldNotSend(_ frame: UnsafePointer<nghttp2_frame>, error: Int32) -> Int32 {
        if frame.type == UInt32(NGHTTP2_HEADERS.rawValue), let stream = streams.removeValue(forKey: frame.streamID) {
            loop.openClientStreams -= 1
            stream.lost(
                Status(code: .unavailable, message: "stream not started (\(String(cString: nghttp2_strerror(error)))): \(remoteAddress)"))
        }
        return 0
    }

    func sessionReadData(streamID: Int32, into buffer: UnsafeMutableRawBufferPointer, flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let stream = streams[streamID] else {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            return 0
        }
        return stream.readData(into: buffer, flags: flags)
    }

    var sessionHasStreams: Bool { !streams.isEmpty }

    func sessionClosed(reason: String?) {
        let open = streams
        streams.removeAll()
        loop.openClientStreams -= open.count
        for stream in open.values {
            stream.lost(Status(code: .unavailable, message: "\(reason ?? "connection closed"): \(remoteAddress)"))
        }
        if let idleTimer { loop.cancelTimer(idleTimer) }
        idleTimer = nil
        configuration.logger.debug(
            "connection closed", metadata: ["peer": "\(remoteAddress)", "reason": "\(reason ?? "graceful")"])
        manager.connectionClosed(self, reason: reason)
        rerouteHeld()
    }
}
