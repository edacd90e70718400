/// The request side of a server call as server interceptors see it.
public struct ServerRequest: Sendable {
    /// The client's custom request metadata.
    public var metadata: Metadata
    /// The serialized request messages; read them once.
    public var messages: RequestStream<[UInt8]>

    /// Creates a request.
    public init(metadata: Metadata, messages: RequestStream<[UInt8]>) {
        self.metadata = metadata
        self.messages = messages
    }
}
