import BreakwaterCore
import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// An OpenSSL `SSL_CTX` built from a client or server TLS configuration, shared by every connection of
/// one transport: TLS 1.2 minimum, renegotiation refused, ALPN `h2` offered (client) or required (server).
final class TLSContext: @unchecked Sendable {
    // Safety: `ctx` is fully configured in `init` and only used afterwards to create `SSL` objects
    // (`SSL_new`), which OpenSSL makes safe from several threads (the loops) with its own locks.

    let ctx: OpaquePointer
    let isServer: Bool
    /// Client: whether the server's chain and name are verified.
    let verifiesPeer: Bool
    /// Client: the name sent as SNI and checked in the server's certificate; nil means the host.
    let serverHostname: String?

    private init(ctx: OpaquePointer, isServer: Bool, verifiesPeer: Bool, serverHostname: String?) {
        self.ctx = ctx
        self.isServer = isServer
        self.verifiesPeer = verifiesPeer
        self.serverHostname = serverHostname
    }

    deinit {
        SSL_CTX_free(ctx)
    }

    /// ALPN protocol list on the wire: one entry, `h2`.
    private static let alpnH2: [UInt8] = [2, UInt8(ascii: "h"), UInt8(ascii: "2")]

    // MARK: Building

    /// A client context; failures (an unreadable CA bundle or client certificate) are described.
    static func client(_ configuration: TLSClientConfiguration) -> Result<TLSContext, RPCError> {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_client_method()) else {
            return .failure(RPCError(code: .unavailable, message: "cannot create TLS context: \(errorQueue())"))
        }
        do {
            try common(ctx)
            let rc = alpnH2.withUnsafeBufferPointer { SSL_CTX_set_alpn_protos(ctx, $0.baseAddress, UInt32($0.count)) }
            guard rc == 0 else { throw failure("cannot set ALPN") }
            let verifies = configuration.verification == .full
            if verifies {
                SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
                switch configuration.trustRoots {
                case .systemDefault:
                    guard SSL_CTX_set_default_verify_paths(ctx) == 1 else { throw failure("cannot load the system trust store") }
                case .certificates(let source):
                    try loadTrustRoots(ctx, source, asClientCAList: false)
                }
            } else {
                SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
            }
            switch (configuration.certificateChain, configuration.privateKey) {
            case (nil, nil):
                break
            case (let chain?, let key?):
                try loadIdentity(ctx, chain: chain, key: key)
            default:
                throw RPCError(
                    code: .invalidArgument, message: "TLS client certificate and private key must be given together")
            }
            return .success(TLSContext(ctx: ctx, isServer: false, verifiesPeer: verifies, serverHostname: configuration.serverHostname))
        } catch let error as RPCError {
            SSL_CTX_free(ctx)
            return .failure(RPCError(code: .unavailable, message: error.message))
        } catch {
            SSL_CTX_free(ctx)
            return .failure(RPCError(code: .unavailable, message: "\(error)"))
        }
    }

    /// A server context; failures (an unreadable or mismatched certificate or key) are described.
    static func server(_ configuration: TLSServerConfiguration) -> Result<TLSContext, RPCError> {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_server_method()) else {
            return .failure(RPCError(code: .internalError, message: "cannot create TLS context: \(errorQueue())"))
        }
        do {
            try common(ctx)
            _ = SSL_CTX_set_num_tickets(ctx, 0)
            try loadIdentity(ctx, chain: configuration.certificateChain, key: configuration.privateKey)
            SSL_CTX_set_alpn_select_cb(ctx, { _, out, outLength, offered, offeredLength, _ in
                guard let out, let outLength, let offered else { return SSL_TLSEXT_ERR_ALERT_FATAL }
                var i = 0
                let count = Int(offeredLength)
                while i < count {
                    let length = Int(offered[i])
                    if length == 2, i + 2 < count, offered[i + 1] == UInt8(ascii: "h"), offered[i + 2] == UInt8(ascii: "2") {
                        out.pointee = offered + i + 1
                        outLength.pointee = 2
                        return SSL_TLSEXT_ERR_OK
                    }
                    i += 1 + length
                }
                return SSL_TLSEXT_ERR_ALERT_FATAL
            }, nil)
            switch configuration.clientCertificateVerification {
            case .none:
                SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
            case .request, .require:
                let mode =
                    configuration.clientCertificateVerification == .require
                    ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER
                SSL_CTX_set_verify(ctx, mode, nil)
                if let roots = configuration.clientCertificateTrustRoots {
                    try loadTrustRoots(ctx, roots, asClientCAList: true)
                } else {
                    guard SSL_CTX_set_default_verify_paths(ctx) == 1 else { throw failure("cannot load the system trust store") }
                }
            }
            return .success(TLSContext(ctx: ctx, isServer: true, verifiesPeer: false, serverHostname: nil))
        } catch let error as RPCError {
            SSL_CTX_free(ctx)
            return .failure(error)
        } catch {
            SSL_CTX_free(ctx)
            return .failure(RPCError(code: .invalidArgument, message: "\(error)"))
        }
    }

    /// Settings both sides share.
    private static func common(_ ctx: OpaquePointer) throws {
        guard bw_SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 else { throw failure("cannot require TLS 1.2") }
        bw_SSL_CTX_set_hardened_options(ctx)
        _ = bw_SSL_CTX_set_mode_defaults(ctx)
    }

    /// Loads a certificate chain (leaf first) and its private key, and checks that they match.
    private static func loadIdentity(_ ctx: OpaquePointer, chain: TLSPEMSource, key: TLSPEMSource) throws {
        let certificates = try readCertificates(chain)
        guard let leaf = certificates.first else {
            throw RPCError(code: .invalidArgument, message: "no certificate found in TLS certificate chain \(chain.label)")
        }
        defer { X509_free(leaf) }
        guard SSL_CTX_use_certificate(ctx, leaf) == 1 else {
            for extra in certificates.dropFirst() { X509_free(extra) }
            throw failure("cannot use TLS certificate from \(chain.label)")
        }
        for extra in certificates.dropFirst() {
            // add0: the context takes ownership on success.
            if bw_SSL_CTX_add0_chain_cert(ctx, extra) != 1 {
                X509_free(extra)
                throw failure("cannot add chain certificate from \(chain.label)")
            }
        }
        let privateKey = try withBIO(key) { bio -> OpaquePointer? in PEM_read_bio_PrivateKey(bio, nil, nil, nil) }
        guard let privateKey else { throw failure("cannot read TLS private key from \(key.label)") }
        defer { EVP_PKEY_free(privateKey) }
        guard SSL_CTX_use_PrivateKey(ctx, privateKey) == 1 else { throw failure("cannot use TLS private key from \(key.label)") }
        guard SSL_CTX_check_private_key(ctx) == 1 else {
            throw failure("TLS private key \(key.label) does not match certificate \(chain.label)")
        }
    }

    /// Adds every certificate of `source` to the context's trust store (and, for a server, to the list of
    /// acceptable client CAs it announces).
    private static func loadTrustRoots(_ ctx: OpaquePointer, _ source: TLSPEMSource, asClientCAList: Bool) throws {
        let certificates = try readCertificates(source)
        defer { for certificate in certificates { X509_free(certificate) } }
        guard !certificates.isEmpty else {
            throw RPCError(code: .invalidArgument, message: "no certificate found in TLS trust roots \(source.label)")
        }
        guard let store = SSL_CTX_get_cert_store(ctx) else { throw failure("no certificate store") }
        for certificate in certificates {
            guard X509_STORE_add_cert(store, certificate) == 1 else { throw failure("cannot trust a certificate of \(source.label)") }
            if asClientCAList { _ = SSL_CTX_add_client_CA(ctx, certificate) }
        }
    }

    /// Every certificate in a PEM source, owned by the caller (free with `X509_free`).
    private static func readCertificates(_ source: TLSPEMSource) throws -> [OpaquePointer] {
        try withBIO(source) { bio -> [OpaquePointer] in
            var certificates: [OpaquePointer] = []
            while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) {
                certificates.append(certificate)
            }
            // Reading stops with a "no start line" error at the end of the input: not a failure.
            ERR_clear_error()
            return certificates
        }
    }

    /// Runs `body` with a BIO reading `source`; throws when the file cannot be opened.
    private static func withBIO<R>(_ source: TLSPEMSource, _ body: (OpaquePointer) throws -> R) throws -> R {
        switch source {
        case .file(let path):
            guard let bio = BIO_new_file(path, "r") else { throw failure("cannot read \(path)") }
            defer { BIO_free(bio) }
            return try body(bio)
        case .bytes(let bytes):
            return try bytes.withUnsafeBytes { raw -> R in
                guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(clamping: raw.count)) else {
                    throw failure("cannot read PEM bytes")
                }
                defer { BIO_free(bio) }
                return try body(bio)
            }
        }
    }

    // MARK: Errors

    /// An error with `what` and OpenSSL's queued reasons.
    private static func failure(_ what: String) -> RPCError {
        let reasons = errorQueue()
        return RPCError(code: .invalidArgument, message: reasons.isEmpty ? what : "\(what): \(reasons)")
    }

    /// Drains this thread's OpenSSL error queue into one readable line ("reason; reason").
    static func errorQueue() -> String {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            if bw_ERR_SYSTEM_ERROR(code) != 0 {
                // A failed system call (e.g. fopen): errno is the reason.
                let text = String(cString: strerror(ERR_GET_REASON(code)))
                if !reasons.contains(text) { reasons.append(text) }
            } else if let reason = ERR_reason_error_string(code) {
                let text = String(cString: reason)
                if !reasons.contains(text) { reasons.append(text) }
            } else {
                var buffer = [CChar](repeating: 0, count: 256)
                ERR_error_string_n(code, &buffer, buffer.count)
                reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
        }
        return reasons.joined(separator: "; ")
    }
}
