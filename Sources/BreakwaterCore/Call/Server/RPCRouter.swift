/// Maps a call's `:path` to its handler.
///
/// Services add their methods with the `register…` functions (generated code does this in
/// `RegistrableService.registerMethods(with:)`). Registering a method again replaces its handler.
public struct RPCRouter: Sendable {
    var routes: [String: RPCRoute] = [:]

    /// Creates an empty router.
    public init() {}

    /// The registered methods.
    public var methods: [MethodDescriptor] { routes.values.map(\.descriptor) }

    /// Whether a handler is registered for `method`.
    public func hasHandler(for method: MethodDescriptor) -> Bool { routes[method.path] != nil }

    /// Removes the handler of `method`; returns whether there was one.
    @discardableResult
    public mutating func removeHandler(for method: MethodDescriptor) -> Bool {
        routes.removeValue(forKey: method.path) != nil
    }

    func route(forPath path: String) -> RPCRoute? { routes[path] }

    /// Registers a unary handler: one request, one response.
    public mutating func registerUnary<Request: Sendable, Response: Sendable>(
        _ method: MethodDescriptor,
        deserializer: some MessageDeserializer<Request>,
        serializer: some MessageSerializer<Response>,
        handler: @escaping @Sendable (Request, ServerContext) async throws -> Response
    ) {
        routes[method.path] = RPCRoute(descriptor: method, kind: .unary) { request, context in
            let message = try await Self.singleRequest(request.messages, deserializer)
            let response = try await handler(message, context)
            try await context.send(Self.serialize(response, serializer))
        }
    }

    /// Registers a client-streaming handler: a stream of requests, one response.
    public mutating func registerClientStreaming<Request: Sendable, Response: Sendable>(
        _ method: MethodDescriptor,
        deserializer: some MessageDeserializer<Request>,
        serializer: some MessageSerializer<Response>,
        handler: @escaping @Sendable (RequestStream<Request>, ServerContext) async throws -> Response
    ) {
        routes[method.path] = RPCRoute(descriptor: method, kind: .clientStreaming) { request, context in
            let response = try await handler(Self.typed(request.messages, deserializer), context)
            try await context.send(Self.serialize(response, serializer))
        }
    }

    /// Registers a server-streaming handler: one request, a stream of responses.
    public mutating func registerServerStreaming<Request: Sendable, Response: Sendable>(
        _ method: MethodDescriptor,
        deserializer: some MessageDeserializer<Request>,
        serializer: some MessageSerializer<Response>,
        handler: @escaping @Sendable (Request, ResponseWriter<Response>, ServerContext) async throws -> Void
    ) {
        routes[method.path] = RPCRoute(descriptor: method, kind: .serverStreaming) { request, context in
            let message = try await Self.singleRequest(request.messages, deserializer)
            try await handler(message, Self.writer(context, serializer), context)
        }
    }

    /// Registers a bidirectional-streaming handler: streams both ways.
    public mutating func registerBidirectionalStreaming<Request: Sendable, Response: Sendable>(
        _ method: MethodDescriptor,
        deserializer: some MessageDeserializer<Request>,
        serializer: some MessageSerializer<Response>,
        handler: @escaping @Sendable (RequestStream<Request>, ResponseWriter<Response>, ServerContext) async throws -> Void
    ) {
        routes[method.path] = RPCRoute(descriptor: method, kind: .bidirectionalStreaming) { request, context in
            try await handler(Self.typed(request.messages, deserializer), Self.writer(context, serializer), context)
        }
    }

    // MARK: Helpers

    private static func deserialize<Request>(
        _ bytes: [UInt8], _ deserializer: some MessageDeserializer<Request>
    ) throws -> Request {
        do {
            return try deserializer.deserialize(bytes)
        } catch {
            throw RPCError(code: .invalidArgument, message: "Failed to deserialize the request message", cause: error)
        }
    }

    private static func serialize<Response>(
        _ response: Response, _ serializer: some MessageSerializer<Response>
    ) throws -> [UInt8] {
        do {
            return try serializer.serialize(response)
        } catch {
            throw RPCError(code: .internalError, message: "Failed to serialize the response message", cause: error)
        }
    }

    private static func typed<Request: Sendable>(
        _ messages: RequestStream<[UInt8]>, _ deserializer: some MessageDeserializer<Request>
    ) -> RequestStream<Request> {
        messages.map { try deserialize($0, deserializer) }
    }

    private static func writer<Response: Sendable>(
        _ context: ServerContext, _ serializer: some MessageSerializer<Response>
    ) -> ResponseWriter<Response> {
        ResponseWriter(RPCWriter { response in try await context.send(serialize(response, serializer)) })
    }

    /// Reads exactly one request message (unary and server-streaming calls); INTERNAL otherwise.
    private static func singleRequest<Request>(
        _ messages: RequestStream<[UInt8]>, _ deserializer: some MessageDeserializer<Request>
    ) async throws -> Request {
        var iterator = messages.makeAsyncIterator()
        guard let first = try await iterator.next() else {
            throw RPCError(code: .internalError, message: "The client sent no request message")
        }
        guard try await iterator.next() == nil else {
            throw RPCError(code: .internalError, message: "The client sent more than one request message")
        }
        return try deserialize(first, deserializer)
    }
}
