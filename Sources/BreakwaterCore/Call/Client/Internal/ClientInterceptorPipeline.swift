/// The client's interceptors and transport: builds, per call, the chain of the interceptors whose scope
/// matches the method (cached per method), and runs it.
final class ClientInterceptorPipeline: Sendable {
    private let interceptors: [ConditionalInterceptor<any ClientInterceptor>]
    /// The chain when every interceptor applies to every method: no lookup needed.
    private let unscoped: [any ClientInterceptor]?
    private let byMethod: TSanMutex<[MethodDescriptor: [any ClientInterceptor]]> = TSanMutex([:])
    let transport: TransportCaller

    init(interceptors: [ConditionalInterceptor<any ClientInterceptor>], transport: any ClientTransport) {
        self.interceptors = interceptors
        self.transport = TransportCaller(transport: transport)
        if interceptors.allSatisfy({ $0.scope == .all }) {
            unscoped = interceptors.map(\.interceptor)
        } else {
            unscoped = nil
        }
    }

    /// The interceptors that apply to `method`, outermost first.
    func chain(for method: MethodDescriptor) -> [any ClientInterceptor] {
        if let unscoped { return unscoped }
        if let cached = byMethod.withLock({ $0[method] }) { return cached }
        let matching = interceptors.filter { $0.applies(to: method) }.map(\.interceptor)
        byMethod.withLock { $0[method] = matching }
        return matching
    }

    func run(request: ClientRequest, context: ClientContext) async throws -> ClientResponse {
        let chain = chain(for: context.descriptor)
        if chain.isEmpty {
            return try await transport.call(request: request, context: context)
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
        return try await first.intercept(request: request, context: context) { request, context in
            try await run(rest, transport: transport, request: request, context: context)
        }
    }
}
