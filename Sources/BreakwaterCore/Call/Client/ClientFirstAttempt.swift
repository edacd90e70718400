/// The first attempt of a call a ``ClientFirstAttemptInterceptor`` prepared: the client makes it and tells
/// it how it ended, exactly once, with one of the two methods.
///
/// A conforming type of up to three words (a reference and 16 bytes, say) sits inline in the existential
/// the interceptor returns, so handing it over allocates nothing.
public protocol ClientFirstAttempt: Sendable {
    /// The attempt got its response headers: returns the response the call returns (typically `response`
    /// with its body observed, to learn how it ends). Synchronous: a call that succeeds at once runs no
    /// asynchronous level of the interceptor's.
    /// - Parameters:
    ///   - response: The transport's response, consumed: change it in place and return it.
    ///   - context: The prepared context the attempt was made with.
    func answered(_ response: consuming ClientResponse, context: ClientContext) -> ClientResponse

    /// The attempt failed before its response headers: returns the call's response after any further
    /// attempts the interceptor makes through `next`, or throws the error the call fails with.
    /// - Parameters:
    ///   - error: What the attempt threw.
    ///   - request: The call's request, to replay.
    ///   - context: The prepared context the attempt was made with.
    ///   - next: Makes one more attempt through the transport.
    func failed(
        _ error: any Error,
        request: ClientRequest,
        context: ClientContext,
        next: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse
}
