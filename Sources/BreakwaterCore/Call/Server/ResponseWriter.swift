/// Writes the response messages of a streaming server handler.
///
/// The first write sends the response headers (`ServerContext.responseHeaders`). Writing suspends while
/// the transport cannot take more, and throws an `RPCError` once the call has ended (cancelled, deadline
/// passed) or when a message cannot be serialized (INTERNAL).
public struct ResponseWriter<Response: Sendable>: Sendable {
    private let writer: RPCWriter<Response>

    /// A writer that hands each message to `writer`, for tests and adapters.
    public init(_ writer: RPCWriter<Response>) {
        self.writer = writer
    }

    /// Writes one response message.
    public func write(_ message: Response) async throws {
        try await writer.write(message)
    }

    /// Writes every message of `messages`, in order.
    public func write(contentsOf messages: some Sequence<Response>) async throws {
        try await writer.write(contentsOf: messages)
    }
}
