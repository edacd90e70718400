import BreakwaterCore
import BreakwaterWire
import CNghttp2
#if canImport(Glibc)
import Glibc
#endif

/// What arrives, checked before nghttp2's callbacks reach the delegate: the header-list limit, the flood
/// limits the library may lack, peers that do not speak HTTP/2; and the raw frames sent when the
/// session cannot.
extension HTTP2Session {
    /// Rewrites one entry of the SETTINGS frame at `start` (the session's first frame) to
    /// `settingsOverride`. Anything but a SETTINGS frame there leaves the bytes as they are.
    func applySettingsOverride(_ bytes: inout [UInt8], from start: Int) {
        guard let (id, value) = settingsOverride else { return }
        settingsOverride = nil
        guard bytes.count - start >= 9, bytes[start + 3] == 0x4, bytes[start + 4] & 0x1 == 0 else { return }
        let length = Int(bytes[start]) << 16 | Int(bytes[start + 1]) << 8 | Int(bytes[start + 2])
        guard length % 6 == 0, bytes.count - start >= 9 + length else { return }
        var entry = start + 9
        while entry < start + 9 + length {
            if UInt16(bytes[entry]) << 8 | UInt16(bytes[entry + 1]) == id {
                bytes[entry + 2] = UInt8(value >> 24)
                bytes[entry + 3] = UInt8((value >> 16) & 0xff)
                bytes[entry + 4] = UInt8((value >> 8) & 0xff)
                bytes[entry + 5] = UInt8(value & 0xff)
            }
            entry += 6
        }
    }

    func receiveHeader(
        _ frame: UnsafePointer<nghttp2_frame>, name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>
    ) -> Int32 {
        blockBytes += name.count + value.count + 32
        if blockBytes > maxInboundHeaderListSize {
            if frame.streamID == blockStreamID { blockStreamID = 0 }
            delegate?.sessionAbandonedHeaders(frame)
            // ENHANCE_YOUR_CALM, which gRPC peers read as RESOURCE_EXHAUSTED (nghttp2 would say
            // INTERNAL_ERROR); a no-op when the delegate already reset the stream.
            resetStream(frame.streamID, code: StatusMapping.HTTP2ErrorCode.enhanceYourCalm.rawValue)
            return HTTP2Callbacks.skipBlock
        }
        // Collected here, not field by field in the delegate: one call per block, not per field.
        guard blockStreamID != 0, frame.streamID == blockStreamID else { return 0 }
        blockFields.append(headerStrings.field(name: name, value: value))
        return 0
    }

    /// A header block begins, from nghttp2.
    func receiveBeginHeaders(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        blockBytes = 0
        continuations = 0
        let kind = frame.type == UInt32(NGHTTP2_HEADERS.rawValue) ? Int(frame.pointee.headers.cat.rawValue) : -1
        headerStrings.beginBlock(kind: kind)
        blockFields.removeAll(keepingCapacity: true)
        blockStreamID = 0
        switch delegate?.sessionBeganHeaders(frame) ?? .ignore {
        case .collect:
            blockStreamID = frame.streamID
            return 0
        case .ignore:
            return 0
        case .skip:
            return HTTP2Callbacks.skipBlock
        }
    }

    /// A frame header arrived (installed only when the library does not limit CONTINUATIONs itself).
    func receiveBeginFrame(type: UInt8) -> Int32 {
        guard type == UInt8(NGHTTP2_CONTINUATION.rawValue) else { return 0 }
        continuations += 1
        if continuations > protections.maxContinuations {
            terminate(code: .enhanceYourCalm)
            return HTTP2Callbacks.failure
        }
        return 0
    }

    /// A whole frame arrived, from nghttp2: the transport's own reset-rate limit (when the library has
    /// none), then the subclass.
    func receiveFrame(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        if frame.type == UInt32(NGHTTP2_PING.rawValue), frame.isAck, Self.isKeepalivePing(frame) {
            keepaliveAct(keepalive.pingAcknowledged(now: .now, reads: readCount))
        }
        if ownProtections.enforceResetRate, frame.type == UInt32(NGHTTP2_RST_STREAM.rawValue),
            !resetLimiter.admit(at: .now)
        {
            terminate(code: .enhanceYourCalm)
            return 0
        }
        if frame.type == UInt32(NGHTTP2_HEADERS.rawValue) {
            let collected = blockStreamID != 0 && frame.streamID == blockStreamID
            blockStreamID = 0
            delegate?.sessionReceivedHeaders(frame, fields: collected ? blockFields : nil)
            blockFields.removeAll(keepingCapacity: true)
            return 0
        }
        return delegate?.sessionReceivedFrame(frame) ?? 0
    }

    /// `nghttp2_session_mem_recv` failed with `rv` on `bytes`. Closes the connection, after the GOAWAY
    /// the connection asked for, or an answer a peer that does not speak HTTP/2 can read.
    func receiveFailed(_ rv: Int32, _ bytes: UnsafeRawBufferPointer) {
        if rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC.rawValue {
            let isHTTP1 = Self.looksLikeHTTP1(bytes)
            // Whatever nghttp2 has written so far goes first (on TLS, its SETTINGS are out already).
            if !holdOutputUntilFirstRead { gatherFinalFrames() }
            queueRaw(isHTTP1 ? Self.http1BadRequest : (holdOutputUntilFirstRead ? Self.invalidPrefaceGoAway : Self.goAwayOnly))
            close(reason: isHTTP1 ? "the client sent an HTTP/1.1 request (answered 400)" : "the client did not send the HTTP/2 preface")
            return
        }
        if terminating && rv == HTTP2Callbacks.failure {
            // Our own protection ended the session: the GOAWAY it queued goes out first.
            gatherFinalFrames()
            close(reason: "HTTP/2 peer over a flood limit (GOAWAY ENHANCE_YOUR_CALM)")
            return
        }
        close(reason: "HTTP/2 protocol error (\(String(cString: nghttp2_strerror(rv))))")
    }

    /// Pulls what nghttp2 has ready into the write buffer (or TLS), without writing.
    func gatherFinalFrames() {
        guard let session = nghttp2 else { return }
        var bytes: [UInt8] = []
        guard pullFrames(session, into: &bytes, below: 64 * 1024) != nil else { return }
        queueRaw(bytes)
    }

    /// Queues bytes that bypass nghttp2 (plaintext; encrypted first on TLS), written when the connection
    /// flushes or, at the latest, when it closes.
    func queueRaw(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        if let tls {
            if tls.isEstablished, bytes.withUnsafeBytes({ tls.write($0) }) == nil {
                tls.drainCiphertext(into: &writeBuffer)
            }
        } else {
            writeBuffer.append(contentsOf: bytes)
        }
    }

    /// Whether the peer's first bytes look like an HTTP/1.x request line (`GET / HTTP/1.1`).
    static func looksLikeHTTP1(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        while i < bytes.count, i < 16, (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(bytes[i]) { i += 1 }
        return i > 0 && i < bytes.count && bytes[i] == UInt8(ascii: " ")
    }

    static let http1BadRequest: [UInt8] = Array(
        ("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 47\r\n\r\n"
            + "This is a gRPC server: it speaks HTTP/2 only.\r\n").utf8)

    /// For a peer that sent no preface: the server preface and GOAWAY PROTOCOL_ERROR.
    static let invalidPrefaceGoAway = settingsAndGoAway(.protocolError, reason: "invalid HTTP/2 connection preface")

    /// A GOAWAY frame, last stream 0, with `reason` as its debug data.
    static func goAway(_ code: StatusMapping.HTTP2ErrorCode, reason: String) -> [UInt8] {
        Array(settingsAndGoAway(code, reason: reason).dropFirst(9))
    }

    /// GOAWAY PROTOCOL_ERROR alone, after a server preface that is already out.
    static let goAwayOnly = goAway(.protocolError, reason: "invalid HTTP/2 connection preface")

    /// An empty SETTINGS frame (a server preface) and GOAWAY `code`, last stream 0, with `reason` as its
    /// debug data: everything a connection that is refused at once is told.
    static func settingsAndGoAway(_ code: StatusMapping.HTTP2ErrorCode, reason: String) -> [UInt8] {
        let debug = Array(reason.utf8)
        let length = 8 + debug.count
        var bytes: [UInt8] = [0, 0, 0, 0x4, 0, 0, 0, 0, 0]
        bytes += [UInt8(length >> 16), UInt8((length >> 8) & 0xff), UInt8(length & 0xff), 0x7, 0, 0, 0, 0, 0]
        bytes += [0, 0, 0, 0, 0, 0, 0, UInt8(code.rawValue)]
        return bytes + debug
    }
}
