/// TLS for an `HTTP2ServerTransport`: the server's certificate and key, and whether clients must present
/// a certificate (mutual TLS).
///
/// TLS 1.2 is the minimum and 1.3 is preferred; a client must agree on ALPN `h2`. The subject of a
/// verified client certificate reaches handlers as `HTTP2ConnectionInfo/peerCertificateSubject`
/// (`context.transportInfo(as: HTTP2ConnectionInfo.self)`).
public struct TLSServerConfiguration: Sendable, Hashable {
    /// Whether clients are asked for a certificate.
    public enum ClientCertificateVerification: Sendable, Hashable {
        /// Clients are not asked for a certificate.
        case none
        /// Clients are asked for one; a client without one is accepted, one with an untrusted
        /// certificate is refused.
        case request
        /// Clients must present a certificate that verifies against `clientCertificateTrustRoots`.
        case require
    }

    /// The server certificate chain, leaf first.
    public var certificateChain: TLSPEMSource
    /// The private key of the server certificate.
    public var privateKey: TLSPEMSource
    /// Whether clients are asked for a certificate.
    public var clientCertificateVerification: ClientCertificateVerification
    /// The certificate authorities that may sign client certificates; `nil` means the system trust store.
    public var clientCertificateTrustRoots: TLSPEMSource?
    /// How long an accepted connection may take to finish its TLS handshake before it is closed.
    public var handshakeTimeout: Duration

    /// Creates a server TLS configuration.
    public init(
        certificateChain: TLSPEMSource,
        privateKey: TLSPEMSource,
        clientCertificateVerification: ClientCertificateVerification = .none,
        clientCertificateTrustRoots: TLSPEMSource? = nil,
        handshakeTimeout: Duration = .seconds(10)
    ) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.clientCertificateVerification = clientCertificateVerification
        self.clientCertificateTrustRoots = clientCertificateTrustRoots
        self.handshakeTimeout = handshakeTimeout
    }
}
