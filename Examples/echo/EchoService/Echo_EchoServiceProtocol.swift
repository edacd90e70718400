import BreakwaterCore
import BreakwaterProtobuf

/// The server side of `echo.Echo` (shaped like generated code): implement the four handlers and pass
/// the service to `GRPCServer`.
public protocol Echo_EchoServiceProtocol: RegistrableService {
    /// Handles `Get`.
    func get(request: Echo_EchoRequest, context: ServerContext) async throws -> Echo_EchoResponse
    /// Handles `Expand`.
    func expand(
        request: Echo_EchoRequest, response: ResponseWriter<Echo_EchoResponse>, context: ServerContext
    ) async throws
    /// Handles `Collect`.
    func collect(requests: RequestStream<Echo_EchoRequest>, context: ServerContext) async throws -> Echo_EchoResponse
    /// Handles `Update`.
    func update(
        requests: RequestStream<Echo_EchoRequest>, response: ResponseWriter<Echo_EchoResponse>,
        context: ServerContext
    ) async throws
}

extension Echo_EchoServiceProtocol {
    /// Registers the four `echo.Echo` methods.
    public func registerMethods(with router: inout RPCRouter) {
        router.registerUnary(
            Echo_Echo.Method.Get.descriptor,
            deserializer: ProtobufDeserializer<Echo_EchoRequest>(),
            serializer: ProtobufSerializer<Echo_EchoResponse>()
        ) { request, context in
            try await self.get(request: request, context: context)
        }
        router.registerServerStreaming(
            Echo_Echo.Method.Expand.descriptor,
            deserializer: ProtobufDeserializer<Echo_EchoRequest>(),
            serializer: ProtobufSerializer<Echo_EchoResponse>()
        ) { request, response, context in
            try await self.expand(request: request, response: response, context: context)
        }
        router.registerClientStreaming(
            Echo_Echo.Method.Collect.descriptor,
            deserializer: ProtobufDeserializer<Echo_EchoRequest>(),
            serializer: ProtobufSerializer<Echo_EchoResponse>()
        ) { requests, context in
            try await self.collect(requests: requests, context: context)
        }
        router.registerBidirectionalStreaming(
            Echo_Echo.Method.Update.descriptor,
            deserializer: ProtobufDeserializer<Echo_EchoRequest>(),
            serializer: ProtobufSerializer<Echo_EchoResponse>()
        ) { requests, response, context in
            try await self.update(requests: requests, response: response, context: context)
        }
    }
}
