/// Turns a message into the bytes sent on the wire.
public protocol MessageSerializer<Message>: Sendable {
    associatedtype Message
    /// Serializes `message`. Throwing ends the call with INTERNAL.
    func serialize(_ message: Message) throws -> [UInt8]
}

/// Turns received bytes into a message.
public protocol MessageDeserializer<Message>: Sendable {
    associatedtype Message
    /// Parses `bytes`. Throwing ends the call with INTERNAL (client) or INVALID_ARGUMENT (server).
    func deserialize(_ bytes: [UInt8]) throws -> Message
}
