/// Limits on what a peer may make one HTTP/2 connection do, on the client and the server alike.
///
/// nghttp2 enforces these when the linked library supports them; Debian's 1.52 carries backports of the
/// newer ones, but an unpatched build of the same version lacks the reset-rate limit (CVE-2023-44487,
/// "rapid reset") and the CONTINUATION limit (CVE-2024-28182). The transport looks them up when a
/// connection starts, and where the library lacks one it enforces the same limit itself, so a build
/// against any libnghttp2 is as safe as a patched one. ``HTTP2Protections/librarySupport`` says which
/// side enforces what.
public struct HTTP2Protections: Sendable, Hashable {
    /// RST_STREAM frames a peer may send at once before `streamResetsPerSecond` applies; past both, the
    /// connection ends with GOAWAY ENHANCE_YOUR_CALM.
    public var streamResetBurst: Int
    /// RST_STREAM frames a peer may send per second, sustained.
    public var streamResetsPerSecond: Int
    /// CONTINUATION frames allowed after one HEADERS frame; more end the connection.
    public var maxContinuations: Int
    /// Frames nghttp2 queues in answer to the peer (PING and SETTINGS acknowledgements, RST_STREAM)
    /// that the peer does not read; past it the connection ends (a peer that floods and never reads).
    public var maxOutboundAcks: Int
    /// Entries allowed in one SETTINGS frame.
    public var maxSettingsEntries: Int

    /// Creates the protections; the defaults are nghttp2's own.
    public init(
        streamResetBurst: Int = 1000, streamResetsPerSecond: Int = 33, maxContinuations: Int = 8,
        maxOutboundAcks: Int = 1000, maxSettingsEntries: Int = 32
    ) {
        self.streamResetBurst = streamResetBurst
        self.streamResetsPerSecond = streamResetsPerSecond
        self.maxContinuations = maxContinuations
        self.maxOutboundAcks = maxOutboundAcks
        self.maxSettingsEntries = maxSettingsEntries
    }

    /// Which protections the linked libnghttp2 enforces itself; the transport enforces the others.
    public struct LibrarySupport: Sendable, Hashable, CustomStringConvertible {
        /// `nghttp2_option_set_stream_reset_rate_limit` is present.
        public var streamResetRateLimit: Bool
        /// `nghttp2_option_set_max_continuations` is present.
        public var maxContinuations: Bool

        public var description: String {
            func side(_ inLibrary: Bool) -> String { inLibrary ? "libnghttp2" : "Breakwater" }
            return "stream reset rate limit: \(side(streamResetRateLimit)); CONTINUATION limit: \(side(maxContinuations))"
        }
    }

    /// What the libnghttp2 this process linked supports (looked up once).
    public static var librarySupport: LibrarySupport {
        LibrarySupport(
            streamResetRateLimit: NGHTTP2Optional.setStreamResetRateLimit != nil,
            maxContinuations: NGHTTP2Optional.setMaxContinuations != nil)
    }
}
