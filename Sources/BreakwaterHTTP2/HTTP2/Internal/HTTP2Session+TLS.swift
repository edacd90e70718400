import BreakwaterCore
import BreakwaterWire
import CNghttp2
#if canImport(Glibc)
import Glibc
#endif

/// TLS between the socket and nghttp2: the handshake, records in and out, the final alerts.
extension HTTP2Session {
    /// Whether the first bytes received look like a TLS record (handshake or alert, version 3.x).
    static func looksLikeTLS(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 3 && (bytes[0] == 0x16 || bytes[0] == 0x15) && bytes[1] == 0x03 && bytes[2] <= 0x04
    }

    /// Advances the handshake; on success lets the subclass look at the peer. False when it closed.
    func advanceHandshake(_ tls: TLSSession) -> Bool {
        switch tls.handshake() {
        case .wantMore:
            return true
        case .failed(let reason):
            close(reason: reason)
            return false
        case .done:
            if let reason = delegate?.sessionTLSEstablished(tls) {
                close(reason: reason)
                return false
            }
            scheduleFlush()
            return true
        }
    }

    /// Ciphertext from the socket: handshake, then every complete record's plaintext into nghttp2.
    /// False when the connection closed.
    func receiveTLS(_ tls: TLSSession, _ bytes: UnsafeRawBufferPointer) -> Bool {
        if let reason = tls.feed(bytes) {
            close(reason: reason)
            return false
        }
        if !tls.isEstablished {
            guard advanceHandshake(tls) else { return false }
            if !tls.isEstablished { return true }
        }
        while let session = nghttp2, !isClosed {
            switch tls.read() {
            case .data(let plaintext):
                inSessionCall = true
                let rv = plaintext.withMemoryRebound(to: UInt8.self) { nghttp2_session_mem_recv(session, $0.baseAddress, $0.count) }
                inSessionCall = false
                if rv < 0 {
                    receiveFailed(Int32(rv), plaintext)
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
    func gatherTLS(_ tls: TLSSession, _ session: OpaquePointer, produced: inout Bool) -> Bool {
        if !tls.isEstablished {
            guard advanceHandshake(tls) else { return false }
        }
        if tls.isEstablished {
            let room = HTTP2Session.writeHighWater - (writeBuffer.count - writeOffset)
            guard let more = pullFrames(session, into: &tlsStaging, below: room) else { return false }
            produced = produced || more
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
    func sendFinalTLSRecords(_ tls: TLSSession) {
        tls.shutdown()
        guard tls.hasCiphertext else { return }
        var tail: [UInt8] = []
        if writeOffset < writeBuffer.count { tail.append(contentsOf: writeBuffer[writeOffset...]) }
        tls.drainCiphertext(into: &tail)
        writeBuffer = []
        writeOffset = 0
        _ = tail.withUnsafeBytes { raw in Glibc.send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
    }

    /// One received header field, from nghttp2: counted against the header-list limit before anything
    /// else, then made into strings (reused when the bytes repeat). Past the limit the block is abandoned
    /// at once, so its cost is bounded by the bytes on the wire, not by what HPACK expands them to.
}
