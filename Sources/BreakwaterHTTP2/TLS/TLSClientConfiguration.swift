/// TLS for an `HTTP2ClientTransport`: how the server is verified, the name sent (SNI), and an optional
/// client certificate for mutual TLS.
///
/// TLS 1.2 is the minimum and 1.3 is preferred; ALPN `h2` is offered and required. By default the
/// server's certificate chain is verified against the system trust store and its name checked against the
/// transport's host (a DNS name, or an IP address literal); turning verification off takes the loudly
/// named ``Verification/insecureSkipVerification_DEVELOPMENT_ONLY``.
public struct TLSClientConfiguration: Sendable, Hashable {
    /// The certificate authorities that may sign the server's certificate.
    public enum TrustRoots: Sendable, Hashable {
        /// The system trust store (`SSL_CTX_set_default_verify_paths`).
        case systemDefault
        /// Only the certificates of this PEM bundle.
        case certificates(TLSPEMSource)
    }

    /// How the server's certificate is checked.
    public enum Verification: Sendable, Hashable {
        /// The chain must lead to a trusted root, be valid now, and name the server (the default).
        case full
        /// Accepts any certificate from anyone, so any machine in the path can read and change the
        /// traffic. For development against self-signed servers only; never in production.
        case insecureSkipVerification_DEVELOPMENT_ONLY
    }

    /// The roots the server's chain is verified against.
    public var trustRoots: TrustRoots
    /// How the server's certificate is checked.
    public var verification: Verification
    /// The name sent as SNI and expected in the server's certificate; `nil` means the transport's host.
    /// (An IP address is checked against the certificate's IP addresses and never sent as SNI.)
    public var serverHostname: String?
    /// The client certificate chain (leaf first) for mutual TLS; used together with `privateKey`.
    public var certificateChain: TLSPEMSource?
    /// The private key of the client certificate.
    public var privateKey: TLSPEMSource?

    /// Creates a client TLS configuration; the defaults verify the server against the system trust store.
    public init(
        trustRoots: TrustRoots = .systemDefault,
        verification: Verification = .full,
        serverHostname: String? = nil,
        certificateChain: TLSPEMSource? = nil,
        privateKey: TLSPEMSource? = nil
    ) {
        self.trustRoots = trustRoots
        self.verification = verification
        self.serverHostname = serverHostname
        self.certificateChain = certificateChain
        self.privateKey = privateKey
    }

    /// Verification against the system trust store, without a client certificate.
    public static var `default`: TLSClientConfiguration { TLSClientConfiguration() }
}
