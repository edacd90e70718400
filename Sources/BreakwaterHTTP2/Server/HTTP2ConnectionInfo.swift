import BreakwaterCore

/// What `HTTP2ServerTransport` tells a handler about the connection its call came on:
/// `context.transportInfo(as: HTTP2ConnectionInfo.self)`.
public struct HTTP2ConnectionInfo: ServerTransportInfo, Hashable {
    /// Whether the connection is TLS.
    public var isSecure: Bool
    /// The subject of the client's verified TLS certificate as an RFC 2253 string (e.g.
    /// `CN=client,O=Example`), or nil over plaintext or when the client presented no certificate.
    public var peerCertificateSubject: String?

    /// Creates the information.
    public init(isSecure: Bool, peerCertificateSubject: String? = nil) {
        self.isSecure = isSecure
        self.peerCertificateSubject = peerCertificateSubject
    }
}
