/// The client's interceptors and transport: builds, per call, the chain of the interceptors whose scope
/// matches the method (cached per method), and runs it. Usable from `GRPCClient`'s inlinable unary calls.
@usableFromInline
final class ClientInterceptorPipeline: Sendable {
    private let interceptors: [ConditionalInterceptor<any ClientInterceptor>]
    /// The chain when every interceptor applies to every method: no lookup needed.
    private let unscoped: [any ClientInterceptor]?
    /// `admissionError` of the outermost interceptor of `unscoped`, when it can reject a call before it is
    /// built. A closure, not the optional existential: asking that one copied it (through its runtime
    /// witnesses) on every call.
    @usableFromInline let unscopedAdmissionError: (@Sendable (ClientContext) -> (any Error)?)?
    /// `prepareFirstAttempt` of the chain's only interceptor, when it is one interceptor for every method
    /// and prepares first attempts (see ``ClientFirstAttemptInterceptor``). A closure for the same reason.
    private let unscopedFirstAttempt: (@Sendable (inout ClientContext) throws -> (any ClientFirstAttempt)?)?
    private let byMethod: TSanMutex<[MethodDescriptor: [any ClientInterceptor]]> = TSanMutex([:])
    let transport: TransportCaller

    init(interceptors: [ConditionalInterceptor<any ClientInterceptor>], transport: any ClientTransport) {
        self.interceptors = interceptors
        self.transport = TransportCaller(transport: transport)
        if interceptors.allSatisfy({ $0.scope == .all }) {
            unscoped = interceptors.map(\.interceptor)
            if let admission = interceptors.first?.interceptor as? any ClientCallAdmission {
                unscopedAdmissionError = { context in admission.admissionError(context) }
            } else {
                unscopedAdmissionError = nil
            }
            if interceptors.count == 1, let only = interceptors[0].interceptor as? any ClientFirstAttemptInterceptor {
                unscopedFirstAttempt = { context in try only.prepareFirstAttempt(&context) }
            } else {
                unscopedFirstAttempt = nil
            }
        } else {
            unscoped = nil
            unscopedAdmissionError = nil
            unscopedFirstAttempt = nil
        }
    }

    /// Asks the outermost interceptor of the method's chain whether it rejects the call at once (see
    /// ``ClientCallAdmission``). Scoped chains are not asked: their chain is found by a look-up that the
    /// call would then repeat.
    /// Untyped, so that an error the interceptor keeps boxed is thrown without boxing it again.
    @inlinable
    func admit(_ context: ClientContext) throws {
        if let error = unscopedAdmissionError?(context) { throw error }
    }

    /// The interceptors that apply to `method`, outermost first.
    func chain(for method: MethodDescriptor) -> [any ClientInterceptor] {
        if let unscoped { return unscoped }
        if let cached = byMethod.withLock({ $0[method] }) { return cached }
        let matching = interceptors.filter { $0.applies(to: method) }.map(\.interceptor)
        byMethod.withLock { $0[method] = matching }
        return matching
    }

    /// Runs the call. `context` is consumed, so that an interceptor that prepares the first attempt
    /// changes it in place instead of a copy.
    @usableFromInline
    func run(request: ClientRequest, context: consuming ClientContext) async throws -> ClientResponse {
        var context = context
        if let unscopedFirstAttempt, let attempt = try unscopedFirstAttempt(&context) {
            // The first attempt straight to the transport: no asynchronous level of the interceptor's.
            let response: ClientResponse
            do {
                response = try await transport.call(request: request, context: context)
            } catch {
                return try await attempt.failed(error, request: request, context: context) { [transport] request, context in
                    try await transport.call(request: request, context: context)
                }
            }
            // Moved, not copied: a copy of the response costs a retain of its metadata and of its body.
            return attempt.answered(consume response, context: context)
        }
        let chain = chain(for: context.descriptor)
        guard let first = chain.first else {
            return try await transport.call(request: request, context: context)
        }
        // One interceptor (the standard chain) is called from here: a level of `run(_:...)` fewer.
        if chain.count == 1 {
            return try await first.intercept(request: request, context: context) { [transport] request, context in
                try await transport.call(request: request, context: context)
            }
        }
        return try await Self.run(chain[...], transport: transport, request: request, context: context)
    }

    private static func run(
        _ chain: ArraySlice<any ClientInterceptor>,
        transport: TransportCaller,
        request: ClientRequest,
        context: ClientContext
    ) async throws -> ClientResponse {
        guard let first = chain.first else {
            return try await transport.call(request: request, context: context)
        }
        let rest = chain.dropFirst()
        // The last interceptor's `next` calls the transport itself, not another level of this function:
        // one asynchronous frame fewer per call.
        if rest.isEmpty {
            return try await first.intercept(request: request, context: context) { request, context in
                try await transport.call(request: request, context: context)
            }
        }
        return try await first.intercept(request: request, context: context) { request, context in
            try await run(rest, transport: transport, request: request, context: context)
        }
    }
}
