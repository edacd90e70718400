/// Intercepts client calls: sees each call's request, context and response, and decides how (and how
/// often) the call continues.
///
/// Every call, whatever its kind, is a stream here. An interceptor may call `next` zero times (to reject
/// or to answer from elsewhere), once, or several times (to retry: each call of `next` replays the
/// request messages from the start, as long as `request.messages.isReplayable`).
///
/// `next` returns once the response headers arrived. A call that ends without headers and with a non-OK
/// status makes `next` throw that status as an `RPCError`; a later non-OK status is thrown by the
/// response body's iterator.
public protocol ClientInterceptor: Sendable {
    /// Intercepts one call.
    /// - Parameters:
    ///   - request: the request metadata and messages.
    ///   - context: the method, kind, deadline and options of the call.
    ///   - next: continues the call with the next interceptor, or the transport after the last one.
    /// - Returns: the response, typically the one `next` returned, possibly transformed.
    func intercept(
        request: ClientRequest,
        context: ClientContext,
        next: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse
}
