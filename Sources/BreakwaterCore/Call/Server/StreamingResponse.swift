/// What a full-form streaming server handler returns: the response headers to send, and the producer
/// that writes the response messages and returns the trailers.
///
/// Generated service protocols use it for server-streaming and bidirectional methods: the headers are
/// set before the producer runs, so they go out with the first message (or at the end for no message).
public struct StreamingResponse<Message: Sendable>: Sendable {
    /// The custom metadata of the response headers.
    public var metadata: Metadata
    /// Writes the response messages; returns the custom metadata of the trailers. Throwing ends the call
    /// with the error's status (an `RPCError`'s code, UNKNOWN otherwise).
    public var producer: @Sendable (ResponseWriter<Message>) async throws -> Metadata

    /// Creates a response.
    /// - Parameters:
    ///   - metadata: The response headers' custom metadata.
    ///   - producer: Writes the messages and returns the trailers' custom metadata.
    public init(
        metadata: Metadata = [:],
        producer: @escaping @Sendable (ResponseWriter<Message>) async throws -> Metadata
    ) {
        self.metadata = metadata
        self.producer = producer
    }
}
