@_spi(Locking) import BreakwaterCore

/// Where a retry interceptor publishes every retry it makes, transparent or not, as a `ClientRetry`
/// with its method, attempt number, reason and backoff.
///
/// Share one instance between the interceptors whose retries should flow into one stream
/// (``ResilienceConfiguration`` gives its chain one: ``ResilienceConfiguration/retryEvents``).
///
/// ```swift
/// for await retry in resilience.retryEvents.stream() {
///     print(retry.method, retry.attempt, retry.reason.name, retry.backoff)
/// }
/// ```
public final class RetryEvents: Sendable {
    private let subscribers = TSanMutex(EventSubscribers<ClientRetry>())

    /// Creates an event source with no subscribers.
    public init() {}

    /// A stream of the retries from now on, in the order they were decided.
    /// - Parameter limit: Retries buffered for a slow reader; past it the oldest are dropped.
    public func stream(bufferingNewest limit: Int = 256) -> AsyncStream<ClientRetry> {
        EventSubscribers.stream(bufferingNewest: limit) { [weak self] body in
            self?.subscribers.withLock { body(&$0) }
        }
    }

    /// Publishes one retry to every subscriber.
    func publish(_ retry: ClientRetry) {
        subscribers.withLock { $0.yield(retry) }
    }
}
