import CNghttp2

/// The nghttp2 session callbacks: C functions that find the owning `HTTP2Session` through `user_data`
/// (an unretained reference: the session outlives its nghttp2 session) and forward to it.
enum HTTP2Callbacks {
    /// Runs `body` with the session behind `userData`, borrowed rather than retained: nghttp2 calls back
    /// only from inside the session's own calls into it (`mem_recv`, `send`, `submit_*`, never from
    /// `nghttp2_session_del`), and the caller of those methods keeps the session alive for their whole
    /// duration. That spares a retain and a release per callback, about twenty per unary call.
    @inline(__always)
    static func with(_ userData: UnsafeMutableRawPointer?, _ body: (HTTP2Session) -> Int32) -> Int32 {
        guard let userData else { return failure }
        return Unmanaged<HTTP2Session>.fromOpaque(userData)._withUnsafeGuaranteedRef(body)
    }

    static let failure = Int32(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue)
    /// From a header callback: reset the stream (unless the callback already did, with its own code) and
    /// skip the rest of the block without decoding it into callbacks.
    static let skipBlock = Int32(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)

    /// Installs the callbacks; `countingFrames` adds the per-frame callback the transport's own
    /// CONTINUATION limit needs (only when the library lacks one).
    static func install(on callbacks: OpaquePointer, countingFrames: Bool) {
        if countingFrames {
            nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks) { _, hd, userData in
                guard let hd else { return HTTP2Callbacks.failure }
                return HTTP2Callbacks.with(userData) { c in c.receiveBeginFrame(type: hd.pointee.type) }
            }
        }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, userData in
            guard let frame else { return HTTP2Callbacks.failure }
            return HTTP2Callbacks.with(userData) { c in c.receiveBeginHeaders(frame) }
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, userData in
            guard let frame, let name, let value else { return HTTP2Callbacks.failure }
            return HTTP2Callbacks.with(userData) { c in
                c.receiveHeader(
                    frame, name: UnsafeBufferPointer(start: name, count: nameLength),
                    value: UnsafeBufferPointer(start: value, count: valueLength))
            }
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, userData in
            guard let frame else { return HTTP2Callbacks.failure }
            return HTTP2Callbacks.with(userData) { c in c.receiveFrame(frame) }
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, streamID, data, length, userData in
            HTTP2Callbacks.with(userData) { c in
                c.receiveData(streamID: streamID, UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : length))
            }
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, errorCode, userData in
            HTTP2Callbacks.with(userData) { c in c.receiveStreamClose(streamID, errorCode: errorCode) }
        }
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks) { _, frame, userData in
            guard let frame else { return HTTP2Callbacks.failure }
            return HTTP2Callbacks.with(userData) { c in c.frameSent(frame) }
        }
        nghttp2_session_callbacks_set_on_frame_not_send_callback(callbacks) { _, frame, error, userData in
            guard let frame else { return HTTP2Callbacks.failure }
            return HTTP2Callbacks.with(userData) { c in c.frameNotSent(frame, error: error) }
        }
    }
}

extension UnsafePointer where Pointee == nghttp2_frame {
    var type: UInt32 { UInt32(pointee.hd.type) }
    var streamID: Int32 { pointee.hd.stream_id }
    var flags: UInt8 { pointee.hd.flags }
    var endStream: Bool { flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0 }
    var isAck: Bool { flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) != 0 }
}
