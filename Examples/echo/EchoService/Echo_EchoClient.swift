import BreakwaterCore
import BreakwaterProtobuf

/// A typed client for `echo.Echo` (shaped like generated code).
public struct Echo_EchoClient: Sendable {
    /// The client calls run through.
    public let client: GRPCClient

    /// Wraps `client`.
    public init(wrapping client: GRPCClient) {
        self.client = client
    }

    /// Calls `Get`.
    public func get(
        _ request: Echo_EchoRequest,
        options: CallOptions = .defaults,
        metadata: Metadata = [:]
    ) async throws -> Echo_EchoResponse {
        try await client.unary(
            request: request, method: Echo_Echo.Method.Get.descriptor,
            serializer: ProtobufSerializer<Echo_EchoRequest>(),
            deserializer: ProtobufDeserializer<Echo_EchoResponse>(),
            options: options, metadata: metadata
        )
    }

    /// Calls `Get`, returning the response with its headers and trailers.
    public func getWithMetadata(
        _ request: Echo_EchoRequest,
        options: CallOptions = .defaults,
        metadata: Metadata = [:]
    ) async throws -> UnaryResponse<Echo_EchoResponse> {
        try await client.unaryWithMetadata(
            request: request, method: Echo_Echo.Method.Get.descriptor,
            serializer: ProtobufSerializer<Echo_EchoRequest>(),
            deserializer: ProtobufDeserializer<Echo_EchoResponse>(),
            options: options, metadata: metadata
        )
    }

    /// Calls `Expand`; returns once the response headers arrived.
    public func expand(
        _ request: Echo_EchoRequest,
        options: CallOptions = .defaults,
        metadata: Metadata = [:]
    ) async throws -> ResponseStream<Echo_EchoResponse> {
        try await client.serverStreaming(
            request: request, method: Echo_Echo.Method.Expand.descriptor,
            serializer: ProtobufSerializer<Echo_EchoRequest>(),
            deserializer: ProtobufDeserializer<Echo_EchoResponse>(),
            options: options, metadata: metadata
        )
    }

    /// Calls `Collect` with the requests `requests` writes.
    public func collect(
        options: CallOptions = .defaults,
        metadata: Metadata = [:],
        requests: @escaping @Sendable (RPCWriter<Echo_EchoRequest>) async throws -> Void
    ) async throws -> Echo_EchoResponse {
        try await client.clientStreaming(
            method: Echo_Echo.Method.Collect.descriptor,
            serializer: ProtobufSerializer<Echo_EchoRequest>(),
            deserializer: ProtobufDeserializer<Echo_EchoResponse>(),
            options: options, metadata: metadata, requests: requests
        )
    }

    /// Calls `Collect` with the elements of `requests`.
    public func collect<Requests: AsyncSequence & Sendable>(
        _ requests: Requests,
        options: CallOptions = .defaults,
        metadata: Metadata = [:]
    ) async throws -> Echo_EchoResponse where Requests.Element == Echo_EchoRequest {
        try await client.clientStreaming(
            method: Echo_Echo.Method.Collect.descriptor,
            serializer: ProtobufSerializer<Echo_EchoRequest>(),
            deserializer: ProtobufDeserializer<Echo_EchoResponse>(),
            options: options, metadata: metadata, requests: requests
        )
    }

    /// Calls `Update` with the requests `requests` writes; returns once the response headers arrived.
    public func update(
        options: CallOptions = .defaults,
        metadata: Metadata = [:],
        requests: @escaping @Sendable (RPCWriter<Echo_EchoRequest>) async throws -> Void
    ) async throws -> ResponseStream<Echo_EchoResponse> {
        try await client.bidirectionalStreaming(
            method: Echo_Echo.Method.Update.descriptor,
            serializer: ProtobufSerializer<Echo_EchoRequest>(),
            deserializer: ProtobufDeserializer<Echo_EchoResponse>(),
            options: options, metadata: metadata, requests: requests
        )
    }

    /// Calls `Update` with the elements of `requests`.
    public func update<Requests: AsyncSequence & Sendable>(
        _ requests: Requests,
        options: CallOptions = .defaults,
        metadata: Metadata = [:]
    ) async throws -> ResponseStream<Echo_EchoResponse> where Requests.Element == Echo_EchoRequest {
        try await client.bidirectionalStreaming(
            method: Echo_Echo.Method.Update.descriptor,
            serializer: ProtobufSerializer<Echo_EchoRequest>(),
            deserializer: ProtobufDeserializer<Echo_EchoResponse>(),
            options: options, metadata: metadata, requests: requests
        )
    }
}
