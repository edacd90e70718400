/// Intercepts server calls before their handler runs.
///
/// An interceptor sees the request metadata, the (serialized) request messages and the context; it may
/// reject the call by throwing an `RPCError` without calling `next`, wrap the request messages, set
/// response metadata through the context, or observe how the call ended (`next` returns or throws).
/// Responses are written by the handler through the context's transport stream.
public protocol ServerInterceptor: Sendable {
    /// Intercepts one call.
    /// - Parameters:
    ///   - request: the request metadata and messages.
    ///   - context: the call's context.
    ///   - next: continues with the next interceptor, or the handler after the last one. It returns when
    ///     the handler returned, and throws what the handler threw.
    func intercept(
        request: ServerRequest,
        context: ServerContext,
        next: @concurrent @Sendable (ServerRequest, ServerContext) async throws -> Void
    ) async throws
}
