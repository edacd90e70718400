import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// The TLS state of one connection: an OpenSSL `SSL` between two memory BIOs. Ciphertext read from the
/// socket goes in with `feed`; plaintext for nghttp2 comes out of `read`; plaintext from nghttp2 goes in
/// with `write`; ciphertext for the socket comes out of `drainCiphertext`. The socket I/O stays with the
/// connection, so TLS needs no other readiness handling than plaintext does: a "want read" is simply
/// waiting for the next socket read, and the memory BIO never "wants write".
///
/// Loop-confined, like the connection that owns it.
final class TLSSession {
    enum HandshakeResult {
        case done
        case wantMore
        case failed(String)
    }

    enum ReadResult {
        case data(UnsafeRawBufferPointer)
        case wantMore
        case closed
        case failed(String)
    }

    let context: TLSContext
    private let ssl: OpaquePointer
    private let readBIO: OpaquePointer
    private let writeBIO: OpaquePointer
    private let plaintext: UnsafeMutableRawBufferPointer
    private(set) var isEstablished = false
    /// A fatal error happened: no more SSL calls but freeing (no close_notify).
    private(set) var failed = false
    private var receivedAnything = false
    /// Whether any application data was decrypted (a client refused after a TLS 1.3 handshake gets none).
    private(set) var receivedApplicationData = false
    /// Bytes to send that OpenSSL did not produce (an alert for a plaintext peer).
    private var extraOutput: [UInt8] = []

    /// A client session checking `host` (a DNS name or an IP literal), or a server session.
    init?(context: TLSContext, host: String?) {
        ERR_clear_error()
        guard let ssl = SSL_new(context.ctx) else { return nil }
        guard let readBIO = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            return nil
        }
        guard let writeBIO = BIO_new(BIO_s_mem()) else {
            BIO_free(readBIO)
            SSL_free(ssl)
            return nil
        }
        SSL_set_bio(ssl, readBIO, writeBIO)  // the SSL owns both BIOs from here on
        self.context = context
        self.ssl = ssl
        self.readBIO = readBIO
        self.writeBIO = writeBIO
        plaintext = .allocate(byteCount: 16 * 1024 + 512, alignment: 16)
        if context.isServer {
            SSL_set_accept_state(ssl)
        } else {
            SSL_set_connect_state(ssl)
            let name = context.serverHostname ?? host.map(Self.unbracketed) ?? ""
            let isIPLiteral = Self.isIPLiteral(name)
            if !name.isEmpty && !isIPLiteral {
                _ = bw_SSL_set_tlsext_host_name(ssl, name)
            }
            if context.verifiesPeer, !name.isEmpty, let param = SSL_get0_param(ssl) {
                X509_VERIFY_PARAM_set_hostflags(param, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
                let ok = isIPLiteral ? X509_VERIFY_PARAM_set1_ip_asc(param, name) : X509_VERIFY_PARAM_set1_host(param, name, 0)
                if ok != 1 {
                    plaintext.deallocate()
                    SSL_free(ssl)
                    return nil
                }
            }
        }
    }

    deinit {
        SSL_free(ssl)
        plaintext.deallocate()
    }

    private static func unbracketed(_ host: String) -> String {
        host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }

    private static func isIPLiteral(_ name: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, name, &v4) == 1 || inet_pton(AF_INET6, name, &v6) == 1
    }

    // MARK: Ciphertext in and out

    /// Hands ciphertext from the socket to OpenSSL. Returns a failure description when the very first
    /// bytes show the peer is not speaking TLS.
    func feed(_ bytes: UnsafeRawBufferPointer) -> String? {
        if !receivedAnything, let first = bytes.first {
            receivedAnything = true
            if context.isServer && first != 0x16 {
                failed = true
                // A fatal protocol_version alert in a TLS 1.2 record, so that a plaintext client of
                // ours can tell what happened (OpenSSL would just close).
                extraOutput = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]
                return "the client did not start a TLS handshake (a plaintext h2c client on a TLS port?)"
            }
            if !context.isServer && !(0x14...0x17).contains(first) {
                failed = true
                return "TLS handshake failed: the server did not answer with TLS (is it a plaintext h2c server?)"
            }
        }
        var offset = 0
        while offset < bytes.count {
            let n = BIO_write(readBIO, bytes.baseAddress.map { $0 + offset }, Int32(clamping: bytes.count - offset))
            if n <= 0 {
                failed = true
                return "TLS: cannot buffer received bytes"
            }
            offset += Int(n)
        }
        return nil
    }

    /// Appends everything OpenSSL wants sent to `buffer`.
    func drainCiphertext(into buffer: inout [UInt8]) {
        if !extraOutput.isEmpty {
            buffer.append(contentsOf: extraOutput)
            extraOutput = []
        }
        // One copy of everything pending, then the BIO is emptied.
        var data: UnsafeMutablePointer<CChar>?
        let length = bw_BIO_get_mem_data(writeBIO, &data)
        guard length > 0, let data else { return }
        data.withMemoryRebound(to: UInt8.self, capacity: length) {
            buffer.append(contentsOf: UnsafeBufferPointer(start: $0, count: length))
        }
        _ = BIO_ctrl(writeBIO, BIO_CTRL_RESET, 0, nil)
    }

    /// Whether OpenSSL has ciphertext to send.
    var hasCiphertext: Bool { !extraOutput.isEmpty || BIO_ctrl_pending(writeBIO) > 0 }

    // MARK: Handshake

    /// Advances the handshake with what has been fed so far.
    func handshake() -> HandshakeResult {
        if isEstablished { return .done }
        if failed { return .failed("TLS handshake failed") }
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            isEstablished = true
            if !agreedOnH2 {
                failed = true
                return .failed("TLS handshake failed: the peer did not agree on ALPN protocol h2")
            }
            return .done
        }
        let error = SSL_get_error(ssl, rc)
        if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return .wantMore }
        failed = true
        return .failed("TLS handshake failed: \(describe(error))")
    }

    private var agreedOnH2: Bool {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length == 2 else { return false }
        return data[0] == UInt8(ascii: "h") && data[1] == UInt8(ascii: "2")
    }

    /// The subject of the peer's certificate (RFC 2253), when it sent one.
    var peerCertificateSubject: String? {
        guard let certificate = SSL_get0_peer_certificate(ssl), let name = X509_get_subject_name(certificate) else { return nil }
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        defer { BIO_free(bio) }
        guard bw_X509_NAME_print_rfc2253(bio, name) >= 0 else { return nil }
        var data: UnsafeMutablePointer<CChar>?
        let length = bw_BIO_get_mem_data(bio, &data)
        guard let data, length > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    // MARK: Application data

    /// Decrypts the next record's worth of plaintext; the returned bytes are valid until the next call.
    func read() -> ReadResult {
        guard isEstablished, !failed, let base = plaintext.baseAddress else { return .failed("TLS session not established") }
        ERR_clear_error()
        let n = SSL_read(ssl, base, Int32(clamping: plaintext.count))
        if n > 0 {
            receivedApplicationData = true
            return .data(UnsafeRawBufferPointer(start: base, count: Int(n)))
        }
        let error = SSL_get_error(ssl, n)
        switch error {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .wantMore
        case SSL_ERROR_ZERO_RETURN:
            return .closed
        default:
            failed = true
            return .failed("TLS error: \(describe(error))")
        }
    }

    /// Encrypts `bytes` (all of them: the write BIO grows as needed).
    func write(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard isEstablished, !failed else { return "TLS session not established" }
        var offset = 0
        while offset < bytes.count {
            ERR_clear_error()
            let n = SSL_write(ssl, bytes.baseAddress.map { $0 + offset }, Int32(clamping: bytes.count - offset))
            if n <= 0 {
                failed = true
                return "TLS error: \(describe(SSL_get_error(ssl, n)))"
            }
            offset += Int(n)
        }
        return nil
    }

    /// Queues close_notify, when the session is in a state to send one.
    func shutdown() {
        guard isEstablished, !failed else { return }
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    /// OpenSSL's reasons for the last failure: the certificate verification result when that is what
    /// failed, then the error queue.
    private func describe(_ error: Int32) -> String {
        var parts: [String] = []
        let queue = TLSContext.errorQueue()
        if !queue.isEmpty { parts.append(queue) }
        if !context.isServer && context.verifiesPeer {
            let result = SSL_get_verify_result(ssl)
            if result != X509_V_OK, let text = X509_verify_cert_error_string(result) {
                parts.append(String(cString: text))
            }
        }
        if parts.isEmpty {
            switch error {
            case SSL_ERROR_SYSCALL, SSL_ERROR_ZERO_RETURN: parts.append("unexpected end of stream")
            default: parts.append("SSL error \(error)")
            }
        }
        return parts.joined(separator: ": ")
    }
}
