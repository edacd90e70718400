import CoreMetrics
import Logging

extension HTTP2ClientTransport {
    /// How an `HTTP2ClientTransport` connects and what it allows.
    public struct Configuration: Sendable {
        /// Reconnection backoff after a failed connection attempt (gRPC connection-backoff).
        public struct Backoff: Sendable, Hashable {
            /// The delay after the first failure.
            public var initial: Duration
            /// The factor applied to the delay after each further failure.
            public var multiplier: Double
            /// The largest delay.
            public var maximum: Duration
            /// The random spread applied to each delay, as a fraction (0.2: plus or minus 20%).
            public var jitter: Double

            /// Creates a backoff policy; the defaults are gRPC's (1 s, x1.6, 120 s, 20%).
            public init(
                initial: Duration = .seconds(1), multiplier: Double = 1.6, maximum: Duration = .seconds(120),
                jitter: Double = 0.2
            ) {
                self.initial = initial
                self.multiplier = multiplier
                self.maximum = maximum
                self.jitter = jitter
            }
        }

        /// Keepalive PINGs (gRFC A8): how a connection that went silent (a peer or a path that drops
        /// everything without closing) is found and replaced.
        public struct Keepalive: Sendable, Hashable {
            /// How long a connection may go without reading anything before it is sent a PING (at least 10 ms).
            public var time: Duration
            /// How long after the PING something (its acknowledgement, or any other frame) must arrive; past
            /// it the connection is closed, its calls fail with UNAVAILABLE, and the next call connects anew
            /// (at least 10 ms).
            public var timeout: Duration
            /// Whether PINGs go out while the connection has no call. Servers with gRPC's default
            /// enforcement answer such PINGs (and PINGs more often than every 5 minutes) with GOAWAY
            /// ENHANCE_YOUR_CALM "too_many_pings" after a few, so enable it only where the server permits.
            /// On that GOAWAY the transport doubles `time` for its next connections (gRFC A8).
            public var permitWithoutCalls: Bool

            /// Creates a keepalive policy; `timeout` defaults to gRPC's 20 s.
            public init(time: Duration, timeout: Duration = .seconds(20), permitWithoutCalls: Bool = false) {
                self.time = time
                self.timeout = timeout
                self.permitWithoutCalls = permitWithoutCalls
            }
        }

        /// How long a connection attempt (TCP connect, the TLS handshake, and the server's SETTINGS) may take.
        public var connectTimeout: Duration
        /// The reconnection backoff; reset when a connection receives the server's SETTINGS.
        public var backoff: Backoff
        /// The largest response message accepted by any call; a call's head may lower it.
        public var maxReceiveMessageBytes: Int
        /// The `user-agent` sent with every request.
        public var userAgent: String
        /// The `:authority` sent with every request; `nil` means `host:port`.
        public var authority: String?
        /// The HTTP/2 flow-control window of each stream (SETTINGS_INITIAL_WINDOW_SIZE).
        public var initialStreamWindowSize: Int
        /// The HTTP/2 flow-control window of the whole connection.
        public var connectionWindowSize: Int
        /// The largest response header list accepted (SETTINGS_MAX_HEADER_LIST_SIZE, enforced while the
        /// block is decoded): a larger one fails the call with RESOURCE_EXHAUSTED and resets its stream.
        public var maxHeaderListSize: Int
        /// Bytes of received messages one call holds for its caller; past it the stream's window is no
        /// longer returned to the server, which must then wait until the caller reads.
        public var streamReceiveBufferBytes: Int
        /// Bytes one connection's calls hold together (messages not yet read and messages still arriving);
        /// past it no window is returned until callers read, and a call that can make no progress then is
        /// failed with RESOURCE_EXHAUSTED. A server can make the client hold at most about this plus
        /// `connectionWindowSize` per connection.
        public var connectionReceiveBufferBytes: Int
        /// Flood limits (SETTINGS entries, unanswered acknowledgements, CONTINUATIONs).
        public var protections: HTTP2Protections
        /// TLS (server verification, SNI, client certificate); `nil` speaks plaintext h2c.
        public var tls: TLSClientConfiguration?
        /// Keepalive PINGs; `nil` (the default, as in gRPC) sends none.
        public var keepalive: Keepalive?
        /// Dead-connection detection that needs no keepalive: when a call ends by its deadline or is
        /// cancelled and nothing at all was read from its connection since the call started, the
        /// connection may be silently dead (a "zombie"), so it is sent a PING; when nothing arrives within
        /// this bound, it is closed (its calls fail with UNAVAILABLE) and the next call connects anew.
        /// `nil` sends no such PING. A connection whose server answered such a PING and has sent nothing
        /// since is not PINGed again for 5 minutes (gRPC servers' minimum PING interval).
        ///
        /// The same bound serves two neighbours of that rule: a call that is a probe
        /// (`CallOptions.isProbe`) goes out on a ready connection only after that
        /// connection answered a PING within it; and a connection attempt that heard nothing at all from
        /// the server by the time every call waiting for it ended is abandoned, so that the next call
        /// starts a fresh attempt instead of waiting on one that may be dead.
        public var silentConnectionPingTimeout: Duration?
        /// How long a connection may go without calls before it is closed (GOAWAY) and the transport goes
        /// back to IDLE; the next call connects anew. Checked once per period, so an unused connection
        /// closes between one and two periods after its last call. `nil`: never. Default 30 minutes, as in
        /// gRPC.
        public var idleTimeout: Duration?
        /// Where connection life is logged, with the target (and peer) on every line: connectivity
        /// changes (CONNECTING, READY and TRANSIENT_FAILURE at info with the error, IDLE and SHUTDOWN at
        /// debug), GOAWAY received and connections closed (with the reason) at debug. By default
        /// nothing is logged.
        public var logger: Logger = TransportLogger.silent
        /// Where connectivity is counted (`breakwater.client.connectivity.transitions`, a counter by
        /// `target`, `from` and `to`; `breakwater.client.connections.ready`, a meter of READY connections
        /// by `target`); `nil`, the default: nowhere.
        public var metricsFactory: (any MetricsFactory)?

        /// Creates a configuration.
        public init(
            connectTimeout: Duration = .seconds(20),
            backoff: Backoff = Backoff(),
            maxReceiveMessageBytes: Int = 4 * 1024 * 1024,
            userAgent: String = "breakwater-swift/0.1",
            authority: String? = nil,
            initialStreamWindowSize: Int = 1 << 20,
            connectionWindowSize: Int = 8 << 20,
            maxHeaderListSize: Int = 16 * 1024,
            streamReceiveBufferBytes: Int = 256 * 1024,
            connectionReceiveBufferBytes: Int = 16 << 20,
            protections: HTTP2Protections = HTTP2Protections(),
            tls: TLSClientConfiguration? = nil,
            keepalive: Keepalive? = nil,
            silentConnectionPingTimeout: Duration? = .seconds(1),
            idleTimeout: Duration? = .seconds(30 * 60)
        ) {
            self.connectTimeout = connectTimeout
            self.backoff = backoff
            self.maxReceiveMessageBytes = maxReceiveMessageBytes
            self.userAgent = userAgent
            self.authority = authority
            self.initialStreamWindowSize = initialStreamWindowSize
            self.connectionWindowSize = connectionWindowSize
            self.maxHeaderListSize = maxHeaderListSize
            self.streamReceiveBufferBytes = streamReceiveBufferBytes
            self.connectionReceiveBufferBytes = connectionReceiveBufferBytes
            self.protections = protections
            self.tls = tls
            self.keepalive = keepalive
            self.silentConnectionPingTimeout = silentConnectionPingTimeout
            self.idleTimeout = idleTimeout
        }

        /// This configuration with keepalive PINGs (gRFC A8): a PING after `time` without reading
        /// anything, the connection closed when nothing arrives within `timeout` after it (its calls fail
        /// with UNAVAILABLE; the next call connects anew). Without calls only when `permitWithoutCalls`.
        public func keepalive(time: Duration, timeout: Duration = .seconds(20), permitWithoutCalls: Bool = false) -> Self {
            var copy = self
            copy.keepalive = Keepalive(time: time, timeout: timeout, permitWithoutCalls: permitWithoutCalls)
            return copy
        }
    }
}

extension HTTP2ClientTransport.Configuration.Keepalive {
    /// After a server's GOAWAY "too_many_pings": twice the time (gRFC A8), at most a day.
    var afterTooManyPings: Self {
        var doubled = self
        doubled.time = min(max(time, .milliseconds(10)) * 2, .seconds(86_400))
        return doubled
    }

    /// The rules' policy; a zero or negative interval would PING in a loop, so each is at least 10 ms.
    var policy: KeepaliveMachine.Policy {
        .init(time: max(time, .milliseconds(10)), timeout: max(timeout, .milliseconds(10)), permitWithoutCalls: permitWithoutCalls)
    }
}

extension HTTP2ClientTransport.Configuration {
    var sessionLimits: HTTP2Session.Limits {
        .init(maxInboundHeaderListSize: maxHeaderListSize, protections: protections, receiveBudget: connectionReceiveBufferBytes)
    }
}
