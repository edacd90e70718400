/// The request side of a client call as interceptors see it: metadata and serialized messages.
public struct ClientRequest: Sendable {
    /// Custom request metadata, sent as request headers.
    public var metadata: Metadata
    /// The serialized request messages. Replayable from the start while not committed, so an
    /// interceptor may call `next` again with the same request.
    public var messages: RequestMessages

    /// Creates a request.
    public init(metadata: Metadata = [:], messages: RequestMessages) {
        self.metadata = metadata
        self.messages = messages
    }

    /// Creates a request with one message, as a unary or server-streaming call sends.
    public init(metadata: Metadata = [:], message: [UInt8]) {
        self.metadata = metadata
        self.messages = RequestMessages(message)
    }
}
