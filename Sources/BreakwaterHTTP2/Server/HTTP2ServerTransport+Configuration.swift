import CoreMetrics
import Logging

extension HTTP2ServerTransport {
    /// Limits and windows of an `HTTP2ServerTransport`.
    ///
    /// Every limit bounds what one client can make the server spend: streams, header bytes, buffered
    /// message bytes, connections and how long they may stay without doing anything useful.
    public struct Configuration: Sendable, Hashable {
        /// The server's own keepalive PINGs (gRFC A8): a client connection that has sent nothing for
        /// `time` is sent a PING, and closed when nothing arrives within `timeout` after it.
        public struct Keepalive: Sendable, Hashable {
            /// How long a connection may go without reading anything before it is sent a PING (at least
            /// 10 ms). Above a minute, quiet is measured in whole intervals (a PING comes between one and
            /// two intervals after the last read), so that reads need no clock.
            public var time: Duration
            /// How long after the PING something must arrive (at least 10 ms).
            public var timeout: Duration

            /// Creates a keepalive policy; the defaults are gRPC's (2 hours, 20 s).
            public init(time: Duration = .seconds(2 * 3600), timeout: Duration = .seconds(20)) {
                self.time = time
                self.timeout = timeout
            }
        }

        /// Which client PINGs the server tolerates (gRPC's keepalive enforcement policy). A PING sooner than
        /// `minimumInterval` after the previous one (or, without calls and unless `permitWithoutCalls`,
        /// sooner than 2 hours) is a strike, unless the server sent DATA or HEADERS since; one strike more
        /// than `maxStrikes` ends the connection with GOAWAY ENHANCE_YOUR_CALM "too_many_pings", on which
        /// gRPC clients double their keepalive time.
        public struct PingPolicy: Sendable, Hashable {
            /// The shortest interval between PINGs that is no strike.
            public var minimumInterval: Duration
            /// Whether PINGs on a connection without calls are judged by `minimumInterval` too.
            public var permitWithoutCalls: Bool
            /// The strikes tolerated; the next one closes the connection.
            public var maxStrikes: Int

            /// Creates a policy; the defaults are gRPC's (5 minutes, not without calls, 2 strikes).
            public init(minimumInterval: Duration = .seconds(5 * 60), permitWithoutCalls: Bool = false, maxStrikes: Int = 2) {
                self.minimumInterval = minimumInterval
                self.permitWithoutCalls = permitWithoutCalls
                self.maxStrikes = maxStrikes
            }
        }

        /// SETTINGS_MAX_CONCURRENT_STREAMS advertised to clients. A stream past it is refused with
        /// RST_STREAM REFUSED_STREAM (which clients retry), the connection's other streams go on.
        public var maxConcurrentStreams: Int
        /// The largest request message accepted (after decompression); a larger one ends the stream with
        /// RESOURCE_EXHAUSTED.
        public var maxReceiveMessageBytes: Int
        /// The largest request header list (SETTINGS_MAX_HEADER_LIST_SIZE). A header block is abandoned as
        /// soon as it passes this size and its stream reset with ENHANCE_YOUR_CALM (RESOURCE_EXHAUSTED
        /// for gRPC clients), so a block costs what its bytes on the wire cost, whatever HPACK expands it to.
        public var maxHeaderListSize: Int
        /// The HTTP/2 flow-control window of each stream (SETTINGS_INITIAL_WINDOW_SIZE).
        public var initialStreamWindowSize: Int
        /// The HTTP/2 flow-control window of each connection.
        public var connectionWindowSize: Int
        /// Bytes of received messages one stream holds for its handler; past it the stream's window is no
        /// longer returned to the client, which must then wait until the handler reads.
        public var streamReceiveBufferBytes: Int
        /// Bytes one connection's streams hold together: messages waiting for handlers and messages still
        /// arriving. Past it no stream's window is returned until handlers read; a stream that can make no
        /// progress then (its message alone is stuck behind the budget) is reset with RESOURCE_EXHAUSTED.
        /// A client can make one connection hold at most about this plus `connectionWindowSize`.
        public var connectionReceiveBufferBytes: Int
        /// The most connections served at once; a connection past it gets SETTINGS and GOAWAY
        /// ENHANCE_YOUR_CALM ("too many connections") and is closed.
        public var maxConnections: Int
        /// How long a new connection may take to send the HTTP/2 preface and its first SETTINGS (counted
        /// after the TLS handshake, which `TLSServerConfiguration.handshakeTimeout` bounds). Past it the
        /// connection is closed.
        public var prefaceTimeout: Duration
        /// A connection without streams for this long is sent GOAWAY and closed (gRFC A9's
        /// `MAX_CONNECTION_IDLE`); nil: never.
        public var maxConnectionIdle: Duration?
        /// A connection older than this (plus or minus 10%, so that clients do not reconnect in lock-step)
        /// is sent GOAWAY (gRFC A9's `MAX_CONNECTION_AGE`); nil: never.
        public var maxConnectionAge: Duration?
        /// After the age GOAWAY, how long open streams may run before the connection is closed
        /// (`MAX_CONNECTION_AGE_GRACE`); nil: as long as they need.
        public var maxConnectionAgeGrace: Duration?
        /// Flood limits (resets, CONTINUATIONs, unanswered acknowledgements, SETTINGS entries).
        public var protections: HTTP2Protections
        /// TLS (certificate, key, client-certificate verification); `nil` serves plaintext h2c.
        public var tls: TLSServerConfiguration?
        /// The server's keepalive PINGs; `nil` sends none.
        public var keepalive: Keepalive?
        /// Which client PINGs are tolerated.
        public var pingPolicy: PingPolicy
        /// Where connection life is logged, with the peer on every line: a connection opened and
        /// closed (with the reason) at debug, GOAWAY sent and received at debug, a connection refused
        /// at info. By default nothing is logged. Not part of the configuration's equality.
        public var logger: Logger {
            get { uncomparedLogger.value }
            set { uncomparedLogger.value = newValue }
        }
        private var uncomparedLogger = Uncompared(value: TransportLogger.silent)
        /// Where connection counts go (`breakwater.server.connections`, a meter of open connections;
        /// `breakwater.server.connections.accepted` and `breakwater.server.connections.refused`, counters,
        /// the latter by `reason`); `nil`, the default: none. Not part of the configuration's equality.
        public var metricsFactory: (any MetricsFactory)? {
            get { uncomparedMetrics.value }
            set { uncomparedMetrics.value = newValue }
        }
        private var uncomparedMetrics = Uncompared<(any MetricsFactory)?>(value: nil)

        /// Creates a configuration.
        public init(
            maxConcurrentStreams: Int = 100,
            maxReceiveMessageBytes: Int = 4 * 1024 * 1024,
            maxHeaderListSize: Int = 16 * 1024,
            initialStreamWindowSize: Int = 1 << 20,
            connectionWindowSize: Int = 8 << 20,
            streamReceiveBufferBytes: Int = 256 * 1024,
            connectionReceiveBufferBytes: Int = 16 << 20,
            maxConnections: Int = 10_000,
            prefaceTimeout: Duration = .seconds(10),
            maxConnectionIdle: Duration? = nil,
            maxConnectionAge: Duration? = nil,
            maxConnectionAgeGrace: Duration? = nil,
            protections: HTTP2Protections = HTTP2Protections(),
            tls: TLSServerConfiguration? = nil,
            keepalive: Keepalive? = Keepalive(),
            pingPolicy: PingPolicy = PingPolicy()
        ) {
            self.maxConcurrentStreams = maxConcurrentStreams
            self.maxReceiveMessageBytes = maxReceiveMessageBytes
            self.maxHeaderListSize = maxHeaderListSize
            self.initialStreamWindowSize = initialStreamWindowSize
            self.connectionWindowSize = connectionWindowSize
            self.streamReceiveBufferBytes = streamReceiveBufferBytes
            self.connectionReceiveBufferBytes = connectionReceiveBufferBytes
            self.maxConnections = maxConnections
            self.prefaceTimeout = prefaceTimeout
            self.maxConnectionIdle = maxConnectionIdle
            self.maxConnectionAge = maxConnectionAge
            self.maxConnectionAgeGrace = maxConnectionAgeGrace
            self.protections = protections
            self.tls = tls
            self.keepalive = keepalive
            self.pingPolicy = pingPolicy
        }

        /// Why the configuration cannot be used, or nil.
        var invalidReason: String? {
            func positive(_ value: Int, _ name: String, max: Int = Int(Int32.max)) -> String? {
                (1...max).contains(value) ? nil : "\(name) must be in 1...\(max), not \(value)"
            }
            if pingPolicy.maxStrikes < 0 { return "pingPolicy.maxStrikes must not be negative, not \(pingPolicy.maxStrikes)" }
            return positive(maxConcurrentStreams, "maxConcurrentStreams")
                ?? positive(maxReceiveMessageBytes, "maxReceiveMessageBytes")
                ?? positive(maxHeaderListSize, "maxHeaderListSize")
                ?? positive(initialStreamWindowSize, "initialStreamWindowSize")
                ?? positive(connectionWindowSize, "connectionWindowSize")
                ?? positive(streamReceiveBufferBytes, "streamReceiveBufferBytes", max: Int.max)
                ?? positive(connectionReceiveBufferBytes, "connectionReceiveBufferBytes", max: Int.max)
                ?? positive(maxConnections, "maxConnections")
        }
    }
}

extension HTTP2ServerTransport.Configuration {
    var sessionLimits: HTTP2Session.Limits {
        .init(maxInboundHeaderListSize: maxHeaderListSize, protections: protections, receiveBudget: connectionReceiveBufferBytes)
    }
}
