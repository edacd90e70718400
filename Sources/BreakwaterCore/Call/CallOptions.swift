/// Per-call options. Unset values fall back to the client's defaults.
public struct CallOptions: Sendable, Hashable {
    /// How long the whole call may take, counted from when it starts. `nil`: no deadline.
    public var timeout: Duration?
    /// An absolute deadline on the monotonic clock; the earlier of this and `timeout` applies.
    public var deadline: ContinuousClock.Instant?
    /// The largest response message accepted, in bytes. `nil`: the client's default (4 MiB).
    public var maxReceiveMessageBytes: Int?
    /// The compression applied to request messages. `nil`: the client's default (identity).
    public var compression: CompressionAlgorithm?
    /// Whether a call made inside a server handler takes over the handler's deadline. `nil`: the
    /// client's default (``DeadlinePropagation/inherit``).
    public var deadlinePropagation: DeadlinePropagation?

    /// Creates options; each `nil` falls back to the client's default.
    public init(
        timeout: Duration? = nil,
        deadline: ContinuousClock.Instant? = nil,
        maxReceiveMessageBytes: Int? = nil,
        compression: CompressionAlgorithm? = nil,
        deadlinePropagation: DeadlinePropagation? = nil
    ) {
        self.timeout = timeout
        self.deadline = deadline
        self.maxReceiveMessageBytes = maxReceiveMessageBytes
        self.compression = compression
        self.deadlinePropagation = deadlinePropagation
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
