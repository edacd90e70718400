import BreakwaterWire
import CNghttp2

/// What an `HTTP2Session` tells the connection that owns it: the frames and stream events nghttp2 decoded,
/// the DATA it wants to send, and the end of the connection. Loop thread; called from inside nghttp2
/// (except `sessionHandledEvents` and `sessionClosed`).
///
/// Return values are nghttp2's: 0 to go on, `HTTP2Callbacks.skipBlock` from the header callbacks to reset
/// the stream and skip the rest of its block.
protocol HTTP2SessionDelegate: AnyObject {
    /// A header block begins (HEADERS frame, before its fields): whether the session collects its fields
    /// for `sessionReceivedHeaders`.
    func sessionBeganHeaders(_ frame: UnsafePointer<nghttp2_frame>) -> HeaderBlockChoice
    /// A HEADERS frame whose block is complete, with its fields when the delegate chose `.collect`.
    func sessionReceivedHeaders(_ frame: UnsafePointer<nghttp2_frame>, fields: [HeaderField]?)
    /// The current header block passed the header-list limit: the session resets its stream (with
    /// ENHANCE_YOUR_CALM, unless the delegate already reset it with a code of its own) and skips the rest.
    func sessionAbandonedHeaders(_ frame: UnsafePointer<nghttp2_frame>)
    /// A whole frame other than HEADERS arrived (DATA, SETTINGS, PING, GOAWAY, ...).
    func sessionReceivedFrame(_ frame: UnsafePointer<nghttp2_frame>) -> Int32
    /// A chunk of DATA for `streamID`.
    func sessionReceivedData(streamID: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32
    /// The stream closed with `errorCode` (0 when it ended normally).
    func sessionClosedStream(_ streamID: Int32, errorCode: UInt32) -> Int32
    /// A frame went to the session's output.
    func sessionSentFrame(_ frame: UnsafePointer<nghttp2_frame>) -> Int32
    /// A frame could not be sent (a request after GOAWAY).
    func sessionCouldNotSend(_ frame: UnsafePointer<nghttp2_frame>, error: Int32) -> Int32
    /// Fills `buffer` with DATA for `streamID`; returns the count, or `NGHTTP2_ERR_DEFERRED`.
    func sessionReadData(streamID: Int32, into buffer: UnsafeMutableRawBufferPointer, flags: UnsafeMutablePointer<UInt32>) -> Int
    /// The socket's readiness events were handled (nghttp2 is not calling back now).
    func sessionHandledEvents()
    /// The TLS handshake finished (ALPN h2 agreed); a reason closes the connection instead.
    func sessionTLSEstablished(_ tls: TLSSession) -> String?
    /// The socket and session are gone: end every stream. `reason` nil for a graceful close.
    func sessionClosed(reason: String?)
    /// Whether the connection has open streams (keepalive without calls may be forbidden).
    var sessionHasStreams: Bool { get }
}

/// What the session does with the fields of a header block that begins.
enum HeaderBlockChoice {
    /// Decode them and hand them over with the frame.
    case collect
    /// Let them pass: the frame still arrives, without fields (trailers of a stream nobody reads).
    case ignore
    /// The delegate reset the stream: skip the block.
    case skip
}

extension HTTP2SessionDelegate {
    func sessionAbandonedHeaders(_ frame: UnsafePointer<nghttp2_frame>) {}
    func sessionSentFrame(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 { 0 }
    func sessionCouldNotSend(_ frame: UnsafePointer<nghttp2_frame>, error: Int32) -> Int32 { 0 }
    func sessionHandledEvents() {}
    func sessionTLSEstablished(_ tls: TLSSession) -> String? { nil }
}
