/// A gRPC client: runs calls through its interceptors and over its transport.
///
/// Typed calls take a serializer for requests and a deserializer for responses; generated stubs wrap
/// them. Every call is a stream underneath (see `ClientInterceptor`); `execute(request:method:kind:options:)`
/// exposes that level directly.
public final class GRPCClient: Sendable {
    /// The options every call starts from; a call's own options override the fields they set.
    public let defaultOptions: CallOptions
    /// The most request bytes a streaming call buffers for replay before it is committed.
    public let retryBufferBytes: Int
    /// Whether `defaultOptions` sets nothing (the usual case): every call's options are then its own, and
    /// `resolvedOptions` need not copy and merge them field by field.
    private let defaultsSetNothing: Bool
    let transport: any ClientTransport
    @usableFromInline let pipeline: ClientInterceptorPipeline

    /// Creates a client.
    /// - Parameters:
    ///   - transport: the transport calls run over.
    ///   - interceptors: interceptors with their scopes, outermost first.
    ///   - defaultOptions: options for calls that do not set their own.
    ///   - retryBufferBytes: the retry buffer limit per call (default 256 KiB).
    public init(
        transport: any ClientTransport,
        interceptors: [ConditionalInterceptor<any ClientInterceptor>] = [],
        defaultOptions: CallOptions = .defaults,
        retryBufferBytes: Int = 256 * 1024
    ) {
        self.transport = transport
        self.defaultOptions = defaultOptions
        self.defaultsSetNothing = defaultOptions == CallOptions()
        self.retryBufferBytes = retryBufferBytes
        self.pipeline = ClientInterceptorPipeline(interceptors: interceptors, transport: transport)
    }

    /// Closes the transport: new calls fail with UNAVAILABLE, calls in flight finish first.
    public func close() async {
        await transport.close()
    }

    /// `options` with the unset fields taken from `defaultOptions`; extensions merge by key, the call's
    /// own value winning (``CallOptions/Extensions/merged(over:)``).
    public func resolvedOptions(_ options: CallOptions) -> CallOptions {
        if defaultsSetNothing { return options }
        // Field by field from the call's own options, not through the public initializer: its `deadline`
        // parameter, an `Optional<ContinuousClock.Instant>` even when `nil`, goes through runtime value
        // witnesses, and the stored deadlines are merged as they are.
        var resolved = options
        resolved.timeout = options.timeout ?? defaultOptions.timeout
        resolved.storedDeadline = options.storedDeadline ?? defaultOptions.storedDeadline
        resolved.maxReceiveMessageBytes = options.maxReceiveMessageBytes ?? defaultOptions.maxReceiveMessageBytes
        resolved.maxSendMessageBytes = options.maxSendMessageBytes ?? defaultOptions.maxSendMessageBytes
        resolved.compression = options.compression ?? defaultOptions.compression
        resolved.deadlinePropagation = options.deadlinePropagation ?? defaultOptions.deadlinePropagation
        resolved.waitForReady = options.waitForReady ?? defaultOptions.waitForReady
        resolved.isProbe = options.isProbe ?? defaultOptions.isProbe
        resolved.extensions = options.extensions.merged(over: defaultOptions.extensions)
        return resolved
    }

    /// Runs one call at the stream level through the interceptors that apply to `method`.
    ///
    /// Returns once the response headers arrived; throws an `RPCError` for a response without headers
    /// and a non-OK status. The caller owns the response body; dropping it cancels the call.
    /// (The typed streaming calls run this in a task of their own and return at once.)
    /// - Parameters:
    ///   - request: The request metadata and messages.
    ///   - method: The method called; it selects the interceptors whose scope matches.
    ///   - kind: The method's kind.
    ///   - options: Options for this call; unset ones come from `defaultOptions`.
    public func execute(
        request: ClientRequest,
        method: MethodDescriptor,
        kind: CallKind,
        options: CallOptions = .defaults
    ) async throws -> ClientResponse {
        let context = makeContext(method: method, kind: kind, options: options)
        try pipeline.admit(context)
        return try await pipeline.run(request: request, context: context)
    }

    /// The context of a call starting now, in the calling task: options merged with the defaults, and its
    /// deadline.
    @usableFromInline
    func makeContext(method: MethodDescriptor, kind: CallKind, options: CallOptions) -> ClientContext {
        let options = resolvedOptions(options)
        var context = ClientContext(
            descriptor: method,
            kind: kind,
            // Inside a server handler, the served call's deadline applies too (task-local, so a call made
            // from a detached task or outside any handler has only its own).
            storedDeadline: (options.deadlinePropagation ?? .inherit).storedDeadline(
                own: options.storedDeadline, serving: ServingCall.deadline),
            options: options
        )
        // The clock is read only for a timeout; the earliest of the three deadlines applies (see
        // `CallOptions.effectiveDeadline(now:)`), all kept as `StoredInstant`s.
        if let timeout = options.timeout { context.bound(byTimeout: timeout) }
        return context
    }

    /// Starts a streaming call's chain in a task of its own (see `StreamingCall`). The context is made
    /// here, in the caller's task: its deadline counts from the call, and a served call's deadline is
    /// read from the caller's task-locals.
    private func startStreaming(
        request: ClientRequest, method: MethodDescriptor, kind: CallKind, options: CallOptions,
        onFailure: @escaping @Sendable () -> Void = {}
    ) -> StreamingCall {
        let context = makeContext(method: method, kind: kind, options: options)
        return StreamingCall(run: { [pipeline] in
            // An open breaker's rejection, too, comes from the stream's first `next()`.
            try pipeline.admit(context)
            return try await pipeline.run(request: request, context: context)
        }, onFailure: onFailure)
    }

    // MARK: Unary

    // The unary entry points are inlinable, so that they are specialized for the caller's message and
    // serializer types: unspecialized, they looked up generic metadata on every call, a large part of what
    // a call an open breaker rejects costs.

    /// Calls a unary method and returns its response message.
    @inlinable
    public func unary<Request: Sendable, Response: Sendable>(
        request: Request,
        method: MethodDescriptor,
        serializer: some MessageSerializer<Request>,
        deserializer: some MessageDeserializer<Response>,
        options: CallOptions = .defaults,
        metadata: Metadata = [:]
    ) async throws -> Response {
        try await unaryWithMetadata(
            request: request, method: method, serializer: serializer, deserializer: deserializer,
            options: options, metadata: metadata
        ).message
    }

    /// Calls a unary method and returns its response message with the response headers and trailers.
    @inlinable
    public func unaryWithMetadata<Request: Sendable, Response: Sendable>(
        request: Request,
        method: MethodDescriptor,
        serializer: some MessageSerializer<Request>,
        deserializer: some MessageDeserializer<Response>,
        options: CallOptions = .defaults,
        metadata: Metadata = [:]
    ) async throws -> UnaryResponse<Response> {
        // Asked before the request is serialized, so that a call an open breaker rejects costs no encoding.
        let context = makeContext(method: method, kind: .unary, options: options)
        try pipeline.admit(context)
        let bytes = try Self.serialize(request, serializer)
        let response = try await pipeline.run(request: ClientRequest(metadata: metadata, message: bytes), context: context)
        return try await Self.singleResponse(response, deserializer)
    }

    // MARK: Client streaming

    /// Calls a client-streaming method: `requests` writes the request messages (it runs once, in its
    /// own task; returning ends the request side) and the single response message is returned.
    public func clientStreaming<Request: Sendable, Response: Sendable>(
        method: MethodDescriptor,
        serializer: some MessageSerializer<Request>,
        deserializer: some MessageDeserializer<Response>,
        options: CallOptions = .defaults,
        metadata: Metadata = [:],
        requests: @escaping @Sendable (RPCWriter<Request>) async throws -> Void
    ) async throws -> Response {
        try await clientStreamingWithMetadata(
            method: method, serializer: serializer, deserializer: deserializer,
            options: options, metadata: metadata, requests: requests
        ).message
    }

    /// Calls a client-streaming method, sending the elements of `requests`.
    public func clientStreaming<Request: Sendable, Response: Sendable, Requests: AsyncSequence & Sendable>(
        method: MethodDescriptor,
        serializer: some MessageSerializer<Request>,
        deserializer: some MessageDeserializer<Response>,
        options: CallOptions = .defaults,
        metadata: Metadata = [:],
        requests: Requests
    ) async throws -> Response where Requests.Element == Request {
        try await clientStreaming(
            method: method, serializer: serializer, deserializer: deserializer,
            options: options, metadata: metadata, requests: Self.producer(requests)
        )
    }

    /// Calls a client-streaming method and returns the response message with headers and trailers.
    public func clientStreamingWithMetadata<Request: Sendable, Response: Sendable>(
        method: MethodDescriptor,
        serializer: some MessageSerializer<Request>,
        deserializer: some MessageDeserializer<Response>,
        options: CallOptions = .defaults,
        metadata: Metadata = [:],
        requests: @escaping @Sendable (RPCWriter<Request>) async throws -> Void
    ) async throws -> UnaryResponse<Response> {
        let messages = makeMessages(serializer: serializer, requests: requests)
        defer { messages.close() }
        let response = try await execute(
            request: ClientRequest(metadata: metadata, messages: messages),
            method: method, kind: .clientStreaming, options: options
        )
        return try await Self.singleResponse(response, deserializer)
    }

    // MARK: Server streaming

    /// Calls a server-streaming method and returns its response stream at once, without waiting for the
    /// server.
    ///
    /// The call goes on in a task of its own: the stream's first `next()` (or its `metadata`) waits for
    /// the response headers, which many servers send only with their first message, and throws the
    /// call's `RPCError` when it failed before them. See ``ResponseStream``.
    /// - Parameters:
    ///   - request: The request message.
    ///   - method: The method called.
    ///   - serializer: Serializes the request message.
    ///   - deserializer: Deserializes each response message.
    ///   - options: Options for this call; unset ones come from `defaultOptions`.
    ///   - metadata: Custom request metadata.
    /// - Throws: `RPCError` INTERNAL when the request cannot be serialized; every other failure comes
    ///   from the stream.
    public func serverStreaming<Request: Sendable, Response: Sendable>(
        request: Request,
        method: MethodDescriptor,
        serializer: some MessageSerializer<Request>,
        deserializer: some MessageDeserializer<Response>,
        options: CallOptions = .defaults,
        metadata: Metadata = [:]
    ) async throws -> ResponseStream<Response> {
        let bytes = try Self.serialize(request, serializer)
        let call = startStreaming(
            request: ClientRequest(metadata: metadata, message: bytes),
            method: method, kind: .serverStreaming, options: options
        )
        return ResponseStream(call: call, requests: nil) { try deserializer.deserialize($0) }
    }

    // MARK: Bidirectional streaming

    /// Calls a bidirectional-streaming method and returns its response stream at once, without waiting
    /// for the server.
    ///
    /// `requests` writes the request messages: it runs once, in its own task, from when the call starts
    /// sending, while the call waits for the response headers and while the responses are read. A server
    /// that answers only after a request gets it, whether `requests` writes it at once or later (for
    /// example from an `AsyncStream` the caller feeds after this function returned). The stream's first
    /// `next()` (or its `metadata`) waits for the response headers and throws the call's `RPCError` when
    /// it failed before them. See ``ResponseStream``.
    /// - Parameters:
    ///   - method: The method called.
    ///   - serializer: Serializes each request message.
    ///   - deserializer: Deserializes each response message.
    ///   - options: Options for this call; unset ones come from `defaultOptions`.
    ///   - metadata: Custom request metadata.
    ///   - requests: Writes the request messages; returning ends the request side.
    public func bidirectionalStreaming<Request: Sendable, Response: Sendable>(
        method: MethodDescriptor,
        serializer: some MessageSerializer<Request>,
        deserializer: some MessageDeserializer<Response>,
        options: CallOptions = .defaults,
        metadata: Metadata = [:],
        requests: @escaping @Sendable (RPCWriter<Request>) async throws -> Void
    ) async throws -> ResponseStream<Response> {
        let messages = makeMessages(serializer: serializer, requests: requests)
        let call = startStreaming(
            request: ClientRequest(metadata: metadata, messages: messages),
            method: method, kind: .bidirectionalStreaming, options: options,
            // A call that failed before its headers stops its producer at once, stream read or not.
            onFailure: { messages.close() }
        )
        return ResponseStream(call: call, requests: messages) { try deserializer.deserialize($0) }
    }

    /// Calls a bidirectional-streaming method, sending the elements of `requests`, and returns its
    /// response stream at once (see the overload with a writer closure).
    /// - Parameters:
    ///   - method: The method called.
    ///   - serializer: Serializes each request message.
    ///   - deserializer: Deserializes each response message.
    ///   - options: Options for this call; unset ones come from `defaultOptions`.
    ///   - metadata: Custom request metadata.
    ///   - requests: The request messages; the request side ends with the sequence.
    public func bidirectionalStreaming<Request: Sendable, Response: Sendable, Requests: AsyncSequence & Sendable>(
        method: MethodDescriptor,
        serializer: some MessageSerializer<Request>,
        deserializer: some MessageDeserializer<Response>,
        options: CallOptions = .defaults,
        metadata: Metadata = [:],
        requests: Requests
    ) async throws -> ResponseStream<Response> where Requests.Element == Request {
        try await bidirectionalStreaming(
            method: method, serializer: serializer, deserializer: deserializer,
            options: options, metadata: metadata, requests: Self.producer(requests)
        )
    }

    // MARK: Helpers

    private func makeMessages<Request: Sendable>(
        serializer: some MessageSerializer<Request>,
        requests: @escaping @Sendable (RPCWriter<Request>) async throws -> Void
    ) -> RequestMessages {
        RequestMessages(retryBufferBytes: retryBufferBytes) { writer in
            try await requests(writer.map { try Self.serialize($0, serializer) })
        }
    }

    private static func producer<Request: Sendable, Requests: AsyncSequence & Sendable>(
        _ requests: Requests
    ) -> @Sendable (RPCWriter<Request>) async throws -> Void where Requests.Element == Request {
        { writer in
            for try await request in requests {
                try await writer.write(request)
            }
        }
    }

    @inlinable
    static func serialize<Request>(_ request: Request, _ serializer: some MessageSerializer<Request>) throws -> [UInt8] {
        do {
            return try serializer.serialize(request)
        } catch {
            throw RPCError(code: .internalError, message: "Failed to serialize the request message", cause: error)
        }
    }

    /// Reads exactly one response message and the trailers.
    @inlinable
    static func singleResponse<Response: Sendable>(
        _ response: ClientResponse,
        _ deserializer: some MessageDeserializer<Response>
    ) async throws -> UnaryResponse<Response> {
        var message: Response?
        var trailers: Metadata = [:]
        // Polled before waiting, rather than `for try await`: the message and the trailers usually come
        // together, and a part already there then costs neither a suspension nor an executor switch.
        var parts = response.body.makeAsyncIterator()
        while true {
            let next: ClientResponsePart?
            if case .part(let ready) = try parts.nextIfReady() { next = ready } else { next = try await parts.nextPart() }
            guard let part = next else { break }
            switch part {
            case .message(let bytes):
                guard message == nil else {
                    response.body.cancel()
                    throw RPCError(code: .internalError, message: "The server sent more than one response message")
                }
                do {
                    message = try deserializer.deserialize(bytes)
                } catch {
                    response.body.cancel()
                    throw RPCError(
                        code: .internalError, message: "Failed to deserialize the response message", cause: error)
                }
            case .trailers(let metadata):
                trailers = metadata
            }
        }
        guard let message else {
            throw RPCError(
                code: .unimplemented, message: "The server sent no response message", metadata: trailers)
        }
        return UnaryResponse(message: message, metadata: response.metadata, trailers: trailers)
    }
}
