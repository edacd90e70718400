import BreakwaterCore
import SwiftProtobuf

/// Serializes SwiftProtobuf messages in the protobuf binary format.
public struct ProtobufSerializer<Message: SwiftProtobuf.Message>: MessageSerializer {
    /// Creates a serializer.
    public init() {}

    /// The message's binary encoding. Throws when a required field is missing.
    public func serialize(_ message: Message) throws -> [UInt8] {
        try message.serializedBytes()
    }
}
