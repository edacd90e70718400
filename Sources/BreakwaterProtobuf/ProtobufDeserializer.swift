import BreakwaterCore
import SwiftProtobuf

/// Parses SwiftProtobuf messages from the protobuf binary format.
public struct ProtobufDeserializer<Message: SwiftProtobuf.Message>: MessageDeserializer {
    /// Creates a deserializer.
    public init() {}

    /// Parses `bytes`. Throws when they are not a valid encoding of `Message`.
    public func deserialize(_ bytes: [UInt8]) throws -> Message {
        try Message(serializedBytes: bytes)
    }
}
