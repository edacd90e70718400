/// Per-call options. Unset values fall back to the client's defaults.
public struct CallOptions: Sendable, Hashable {
    /// How long the whole call may take, counted from when it starts. `nil`: no deadline.
    public var timeout: Duration?
    /// An absolute deadline on the monotonic clock; the earlier of this and `timeout` applies.
    public var deadline: ContinuousClock.Instant? {
        get { storedDeadline?.instant }
        set { storedDeadline = newValue.map(StoredInstant.init) }
    }
    /// `deadline` in a fixed-size form, so that the options have a fixed layout (see `StoredInstant`).
    /// Internal, so that the client merges and reads it without converting (see `StoredInstant`).
    var storedDeadline: StoredInstant?
    /// The largest response message accepted, in bytes. `nil`: the client's default (4 MiB).
    public var maxReceiveMessageBytes: Int?
    /// The largest request message sent, in bytes (before compression); a larger one fails the call
    /// with RESOURCE_EXHAUSTED before it is sent. `nil`: the client's default (no limit).
    public var maxSendMessageBytes: Int?
    /// The compression applied to request messages. `nil`: the client's default (identity).
    public var compression: CompressionAlgorithm?
    /// Whether a call made inside a server handler takes over the handler's deadline. `nil`: the
    /// client's default (``DeadlinePropagation/inherit``).
    public var deadlinePropagation: DeadlinePropagation?
    /// Whether the call waits for the transport to be ready instead of failing at once while its
    /// connection is in TRANSIENT_FAILURE (gRPC's wait-for-ready). A waiting call still ends by its
    /// deadline or cancellation. `nil`: the client's default (`false`, fail fast).
    public var waitForReady: Bool?
    /// Whether the call is a probe of a target that failed lately (a circuit breaker's half-open probe
    /// sets it): the transport sends it only over a connection that has just shown it is alive (a PING
    /// answered, or a connection that is new), and a transport waiting out a reconnect backoff connects
    /// at once for it. `nil`: `false`.
    public var isProbe: Bool?
    /// Typed values of modules Core does not know, each under its ``ExtensionKey`` (the resilience
    /// chain's per-call policy override is one). Keys the call does not set come from the client's
    /// default options; a key it sets replaces the default's value whole. Empty by default, at no cost.
    public var extensions: Extensions

    /// Creates options; each `nil` falls back to the client's default.
    /// - Parameters:
    ///   - timeout: How long the whole call may take.
    ///   - deadline: An absolute deadline; the earlier of the two applies.
    ///   - maxReceiveMessageBytes: The largest response message accepted.
    ///   - maxSendMessageBytes: The largest request message sent.
    ///   - compression: The compression of request messages.
    ///   - deadlinePropagation: Whether a call inside a server handler takes the handler's deadline.
    ///   - waitForReady: Whether the call waits for a ready transport.
    ///   - isProbe: Whether the call is a circuit breaker's probe.
    ///   - extensions: Typed values of other modules, by key.
    public init(
        timeout: Duration? = nil,
        deadline: ContinuousClock.Instant? = nil,
        maxReceiveMessageBytes: Int? = nil,
        maxSendMessageBytes: Int? = nil,
        compression: CompressionAlgorithm? = nil,
        deadlinePropagation: DeadlinePropagation? = nil,
        waitForReady: Bool? = nil,
        isProbe: Bool? = nil,
        extensions: Extensions = Extensions()
    ) {
        self.timeout = timeout
        self.storedDeadline = deadline.map(StoredInstant.init)
        self.maxReceiveMessageBytes = maxReceiveMessageBytes
        self.maxSendMessageBytes = maxSendMessageBytes
        self.compression = compression
        self.deadlinePropagation = deadlinePropagation
        self.waitForReady = waitForReady
        self.isProbe = isProbe
        self.extensions = extensions
    }

    /// Default options: no deadline, default limits, no compression.
    public static let defaults = CallOptions()

    /// The effective deadline for a call started at `now`: the earlier of `deadline` and `now + timeout`.
    public func effectiveDeadline(now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        switch (timeout, deadline) {
        case (nil, nil): return nil
        case (let t?, nil): return now.advanced(by: t)
        case (nil, let d?): return d
        case (let t?, let d?): return min(now.advanced(by: t), d)
        }
    }
}

/// A message compression algorithm (`grpc-encoding`).
public enum CompressionAlgorithm: String, Sendable, Hashable, CaseIterable {
    case identity
    case gzip
}
