@_spi(Locking) import BreakwaterCore
import Synchronization

/// A registry's event subscribers and observer, held by each of its breakers, which forward every event
/// here.
///
/// Breakers hold it directly, not through a closure that captures the registry weakly, so that forwarding
/// starts with one relaxed atomic load: while nobody subscribed to the registry's events and it has no
/// observer (the usual case), an OPEN breaker's rejections, thousands a second, take no lock, no weak
/// reference and no event here.
final class RegistryEvents: Sendable {
    /// Bit 0 of `flags`: `subscribers` is not empty (stored under its lock after every change).
    private static let hasSubscribers = 1
    /// Bit 1 of `flags`: the registry is gone; as when breakers held it weakly, its events go nowhere.
    private static let isClosed = 2

    private let subscribers = TSanMutex(EventSubscribers<CircuitBreakerEvent>())
    private let observer: (@Sendable (CircuitBreakerEvent) -> Void)?
    private let flags = Atomic<Int>(0)

    init(observer: (@Sendable (CircuitBreakerEvent) -> Void)?) {
        self.observer = observer
    }

    /// Whether an event forwarded now reaches anyone. A subscriber that joins while an event is forwarded
    /// may miss it, as one that joined just after it.
    var isListening: Bool {
        let flags = flags.load(ordering: .relaxed)
        return flags & Self.isClosed == 0 && (observer != nil || flags & Self.hasSubscribers != 0)
    }

    /// Yields `event` to the registry's subscribers and reports it to its observer.
    func forward(_ event: CircuitBreakerEvent) {
        let flags = flags.load(ordering: .relaxed)
        guard flags & Self.isClosed == 0 else { return }
        if flags & Self.hasSubscribers != 0 {
            withSubscribers { $0.yield(event) }
        }
        observer?(event)
    }

    /// A stream of every event forwarded from now on.
    func stream(bufferingNewest limit: Int) -> AsyncStream<CircuitBreakerEvent> {
        EventSubscribers.stream(bufferingNewest: limit) { [weak self] body in
            self?.withSubscribers(body)
        }
    }

    /// Finishes every stream and forwards nothing more: the registry went away.
    func close() {
        flags.bitwiseOr(Self.isClosed, ordering: .relaxed)
        for continuation in withSubscribers({ $0.takeAll() }) { continuation.finish() }
    }

    /// Runs `body` on the subscribers under their lock, then records whether any are left (a yield forgets
    /// finished ones).
    private func withSubscribers<Result: Sendable>(_ body: (inout EventSubscribers<CircuitBreakerEvent>) -> Result) -> Result {
        subscribers.withLock { subscribers in
            let result = body(&subscribers)
            if subscribers.isEmpty {
                flags.bitwiseAnd(~Self.hasSubscribers, ordering: .relaxed)
            } else {
                flags.bitwiseOr(Self.hasSubscribers, ordering: .relaxed)
            }
            return result
        }
    }
}
