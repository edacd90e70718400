extension HTTP2ServerTransport {
    /// Limits and windows of an `HTTP2ServerTransport`.
    public struct Configuration: Sendable, Hashable {
        /// SETTINGS_MAX_CONCURRENT_STREAMS advertised to clients.
        public var maxConcurrentStreams: Int
        /// The largest request message accepted; a larger one ends the stream with RESOURCE_EXHAUSTED.
        public var maxReceiveMessageBytes: Int
        /// The largest request header list (SETTINGS_MAX_HEADER_LIST_SIZE, enforced).
        public var maxHeaderListSize: Int
        /// The HTTP/2 flow-control window of each stream (SETTINGS_INITIAL_WINDOW_SIZE).
        public var initialStreamWindowSize: Int
        /// The HTTP/2 flow-control window of each connection.
        public var connectionWindowSize: Int
        /// TLS (certificate, key, client-certificate verification); `nil` serves plaintext h2c.
        public var tls: TLSServerConfiguration?

        /// Creates a configuration.
        public init(
            maxConcurrentStreams: Int = 100,
            maxReceiveMessageBytes: Int = 4 * 1024 * 1024,
            maxHeaderListSize: Int = 16 * 1024,
            initialStreamWindowSize: Int = 1 << 20,
            connectionWindowSize: Int = 8 << 20,
            tls: TLSServerConfiguration? = nil
        ) {
            self.maxConcurrentStreams = maxConcurrentStreams
            self.maxReceiveMessageBytes = maxReceiveMessageBytes
            self.maxHeaderListSize = maxHeaderListSize
            self.initialStreamWindowSize = initialStreamWindowSize
            self.connectionWindowSize = connectionWindowSize
            self.tls = tls
        }
    }
}
