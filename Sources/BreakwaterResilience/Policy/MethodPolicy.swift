/// The resilience policy of a method: its timeout, how it is retried, and its circuit breaker.
public struct MethodPolicy: Sendable, Hashable {
    /// The longest a call may take, all attempts included; `nil`: only the caller's deadline.
    public var timeout: Duration?
    /// How failed attempts are retried; `nil`: never.
    public var retry: RetryPolicy?
    /// The circuit breaker's policy; `nil`: no breaker.
    public var circuitBreaker: CircuitBreakerPolicy?

    /// Creates a policy.
    public init(timeout: Duration? = nil, retry: RetryPolicy? = nil, circuitBreaker: CircuitBreakerPolicy? = nil) {
        self.timeout = timeout
        self.retry = retry
        self.circuitBreaker = circuitBreaker
    }

    /// Checks the timeout and the retry and breaker policies; the error's path is the field's name
    /// here (`timeout`, `retry.maxAttempts`, `circuitBreaker.jitter`).
    public func validate() throws(ConfigurationError) {
        if let timeout, timeout <= .zero {
            throw ConfigurationError(path: "timeout", value: "\(timeout)", reason: "is not > 0")
        }
        if let retry {
            do { try retry.validate() } catch { throw error.prefixed("retry") }
        }
        if let circuitBreaker {
            do { try circuitBreaker.validate() } catch { throw error.prefixed("circuitBreaker") }
        }
    }
}
