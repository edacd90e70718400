/// The async-stream subscribers of an event source. Not thread-safe: lives inside its owner's lock,
/// so that events are yielded in the order the owner produced them.
///
/// Package-internal API beside `TSanMutex` (whose lock it lives in): the circuit breakers and the HTTP/2
/// transport's connectivity states make their event streams with it.
@_spi(Locking)
public struct EventSubscribers<Event: Sendable>: Sendable {
    @usableFromInline var continuations: [UInt64: AsyncStream<Event>.Continuation] = [:]
    private var nextID: UInt64 = 0

    public init() {}

    @inlinable public var isEmpty: Bool { continuations.isEmpty }

    /// Reserves an id for a new subscriber.
    public mutating func reserveID() -> UInt64 {
        defer { nextID += 1 }
        return nextID
    }

    public mutating func add(_ continuation: AsyncStream<Event>.Continuation, id: UInt64) {
        continuations[id] = continuation
    }

    public mutating func remove(_ id: UInt64) {
        continuations.removeValue(forKey: id)
    }

    /// Yields to every subscriber (a full buffer drops its oldest event); forgets finished ones.
    ///
    /// Inlined, so that the usual case, no subscriber, is one check in the owner's own specialized code:
    /// called out of line, this generic function looked up its type metadata on every event (an OPEN
    /// breaker yields each rejection twice, its own and its registry's).
    @inlinable public mutating func yield(_ event: Event) {
        guard !continuations.isEmpty else { return }
        yieldToSubscribers(event)
    }

    @usableFromInline mutating func yieldToSubscribers(_ event: Event) {
        var finished: [UInt64] = []
        for (id, continuation) in continuations {
            if case .terminated = continuation.yield(event) { finished.append(id) }
        }
        for id in finished { continuations.removeValue(forKey: id) }
    }

    /// A new subscriber's stream, buffering the newest `limit` events. `withSubscribers` runs its body on
    /// the owner's subscribers under the owner's lock (and does nothing once the owner is gone): the
    /// continuation is added there, and removed when the stream terminates.
    public static func stream(
        bufferingNewest limit: Int,
        _ withSubscribers: @escaping @Sendable (_ body: (inout EventSubscribers) -> Void) -> Void
    ) -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(max(limit, 1)))
        var id: UInt64 = 0
        withSubscribers { id = $0.reserveID() }
        let reserved = id
        continuation.onTermination = { _ in withSubscribers { $0.remove(reserved) } }
        withSubscribers { $0.add(continuation, id: reserved) }
        return stream
    }

    /// Removes and returns every continuation, to be finished outside the owner's lock.
    public mutating func takeAll() -> [AsyncStream<Event>.Continuation] {
        defer { continuations = [:] }
        return Array(continuations.values)
    }
}
