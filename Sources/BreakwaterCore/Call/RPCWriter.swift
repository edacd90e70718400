/// Writes the messages of one side of a call: requests on the client, responses on the server.
///
/// A writer wraps a closure; writing suspends while the receiving side cannot take more and throws when
/// the call has ended (typically an `RPCError`) or the writing task was cancelled.
public struct RPCWriter<Element: Sendable>: Sendable {
    private let writeElement: @Sendable (Element) async throws -> Void

    /// Creates a writer that passes each element to `write`.
    public init(_ write: @escaping @Sendable (Element) async throws -> Void) {
        self.writeElement = write
    }

    /// Writes one element.
    public func write(_ element: Element) async throws {
        try await writeElement(element)
    }

    /// Writes every element of `elements`, in order.
    public func write(contentsOf elements: some Sequence<Element>) async throws {
        for element in elements {
            try await writeElement(element)
        }
    }

    /// A writer of `Source` values that converts each one with `transform` and writes it here.
    public func map<Source: Sendable>(
        _ transform: @escaping @Sendable (Source) throws -> Element
    ) -> RPCWriter<Source> {
        let base = self
        return RPCWriter<Source> { try await base.write(try transform($0)) }
    }
}
