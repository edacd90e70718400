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
        // A Bool test per call when keepalive is off; the first stream after none wakes it when on.
        if session.keepaliveConfigured && streams.isEmpty { session.keepaliveStreamsBecameActive() }
        streams[id] = stream
        session.scheduleFlush()
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
        switch frame.type {
        case UInt32(NGHTTP2_DATA.rawValue):
            if frame.endStream, let stream = streams[frame.streamID] {
                stream.receiveEndOfStream()
            }
        case UInt32(NGHTTP2_SETTINGS.rawValue):
            if !frame.isAck && !receivedSettings {
                receivedSettings = true
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
        for stream in open.values {
            stream.lost(Status(code: .unavailable, message: "\(reason ?? "connection closed"): \(remoteAddress)"))
        }
        configuration.logger.debug(
            "connection closed", metadata: ["peer": "\(remoteAddress)", "reason": "\(reason ?? "graceful")"])
        manager.connectionClosed(self, reason: reason)
    }
}
