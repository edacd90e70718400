/// The result of a call with a single response message, with the call's metadata.
public struct UnaryResponse<Message: Sendable>: Sendable {
    /// The response message.
    public var message: Message
    /// The response headers' custom metadata (empty for a trailers-only response).
    public var metadata: Metadata
    /// The trailing metadata.
    public var trailers: Metadata

    /// Creates a response.
    public init(message: Message, metadata: Metadata = [:], trailers: Metadata = [:]) {
        self.message = message
        self.metadata = metadata
        self.trailers = trailers
    }
}
