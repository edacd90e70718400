import BreakwaterCore

/// The resilience policy of a method: its timeout, how it is retried or hedged, and its circuit breaker.
public struct MethodPolicy: Sendable, Hashable {
    /// The longest a call may take, all attempts included; `nil`: only the caller's deadline.
    public var timeout: Duration?
    /// How failed attempts are retried; `nil`: never.
    public var retry: RetryPolicy?
    /// How calls are hedged (gRFC A6); `nil`: never. A method is either retried or hedged, not both.
    public var hedging: HedgingPolicy?
    /// The circuit breaker's policy; `nil`: no breaker.
    public var circuitBreaker: CircuitBreakerPolicy?
    /// Whether calls wait for a ready connection rather than fail fast while it is in
    /// TRANSIENT_FAILURE (`CallOptions.waitForReady`); a call's own option wins. `nil`:
    /// the call's.
    public var waitForReady: Bool?
    /// The largest request message, in bytes; the smaller of this and the call's own
    /// `CallOptions.maxSendMessageBytes` applies. `nil`: the call's.
    public var maxRequestMessageBytes: Int?
    /// The largest response message, in bytes; the smaller of this and the call's own
    /// `CallOptions.maxReceiveMessageBytes` applies. `nil`: the call's.
    public var maxResponseMessageBytes: Int?

    /// Creates a policy.
    public init(
        timeout: Duration? = nil, retry: RetryPolicy? = nil, circuitBreaker: CircuitBreakerPolicy? = nil,
        waitForReady: Bool? = nil, maxRequestMessageBytes: Int? = nil, maxResponseMessageBytes: Int? = nil,
        hedging: HedgingPolicy? = nil
    ) {
        self.timeout = timeout
        self.retry = retry
        self.hedging = hedging
        self.circuitBreaker = circuitBreaker
        self.waitForReady = waitForReady
        self.maxRequestMessageBytes = maxRequestMessageBytes
        self.maxResponseMessageBytes = maxResponseMessageBytes
    }

    /// Whether the policy changes a call's options (wait-for-ready, message limits).
    var setsCallOptions: Bool {
        waitForReady != nil || maxRequestMessageBytes != nil || maxResponseMessageBytes != nil
    }

    /// `options` with the policy's wait-for-ready (unless the call set its own) and message limits (the
    /// smaller of the two), as gRPC applies a service config's method fields.
    func applied(to options: CallOptions) -> CallOptions {
        var options = options
        if options.waitForReady == nil { options.waitForReady = waitForReady }
        if let limit = maxRequestMessageBytes { options.maxSendMessageBytes = min(options.maxSendMessageBytes ?? limit, limit) }
        if let limit = maxResponseMessageBytes {
            options.maxReceiveMessageBytes = min(options.maxReceiveMessageBytes ?? limit, limit)
        }
        return options
    }

    /// Checks the timeout and the retry, hedging and breaker policies; the error's path is the field's
    /// name here (`timeout`, `retry.maxAttempts`, `hedging.hedgingDelay`, `circuitBreaker.jitter`). A
    /// policy with both ``retry`` and ``hedging`` is rejected (gRFC A6), at path `hedging`.
    public func validate() throws(ConfigurationError) {
        if let timeout, timeout <= .zero {
            throw ConfigurationError(path: "timeout", value: "\(timeout)", reason: "is not > 0")
        }
        if let limit = maxRequestMessageBytes, limit < 0 {
            throw ConfigurationError(path: "maxRequestMessageBytes", value: "\(limit)", reason: "is not >= 0")
        }
        if let limit = maxResponseMessageBytes, limit < 0 {
            throw ConfigurationError(path: "maxResponseMessageBytes", value: "\(limit)", reason: "is not >= 0")
        }
        if let retry {
            do { try retry.validate() } catch { throw error.prefixed("retry") }
        }
        if let hedging {
            if retry != nil {
                throw ConfigurationError(path: "hedging", value: "", reason: "cannot be combined with retry (a method is either retried or hedged)")
            }
            do { try hedging.validate() } catch { throw error.prefixed("hedging") }
        }
        if let circuitBreaker {
            do { try circuitBreaker.validate() } catch { throw error.prefixed("circuitBreaker") }
        }
    }
}
