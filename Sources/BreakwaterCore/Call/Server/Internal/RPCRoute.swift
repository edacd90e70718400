/// One registered method: how to run a call to it once interceptors have passed it on.
struct RPCRoute: Sendable {
    let descriptor: MethodDescriptor
    let kind: CallKind
    let handle: @Sendable (ServerRequest, ServerContext) async throws -> Void
}
