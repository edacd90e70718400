/// The request messages a server handler receives: an asynchronous sequence to iterate once.
///
/// Iteration ends when the client ends its side; it throws an `RPCError` when the call is cancelled,
/// its deadline passes, or a message cannot be deserialized (INVALID_ARGUMENT).
public struct RequestStream<Element: Sendable>: AsyncSequence, Sendable {
    /// Any error, typically an `RPCError`.
    public typealias Failure = any Error

    private let nextElement: @Sendable () async throws -> Element?

    /// A stream whose elements come from `next`; `nil` ends it.
    public init(next: @escaping @Sendable () async throws -> Element?) {
        self.nextElement = next
    }

    /// A stream of the given elements, for tests.
    public init(elements: [Element]) {
        let iterator = SharedArrayIterator(elements)
        self.nextElement = { iterator.next() }
    }

    /// A stream whose elements are this one's, transformed.
    public func map<Mapped: Sendable>(
        _ transform: @escaping @Sendable (Element) throws -> Mapped
    ) -> RequestStream<Mapped> {
        let next = nextElement
        return RequestStream<Mapped> { try await next().map(transform) }
    }

    /// Starts iterating (from where any earlier iteration stopped).
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(nextElement: nextElement)
    }

    /// Iterates the stream.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let nextElement: @Sendable () async throws -> Element?

        /// The next element; `nil` at the end.
        public mutating func next() async throws -> Element? {
            try await nextElement()
        }
    }
}
