import BreakwaterCore
import CoreMetrics

/// A client interceptor that reports every call to swift-metrics, named after OpenTelemetry's RPC
/// conventions (see ``RPCMetricNames``): calls started and active, each call's duration and network
/// attempts by status code, retries by reason, rejections (a circuit breaker's) and message sizes.
///
/// Put it first (outermost), so that it sees the whole call, retries included:
///
/// ```swift
/// let client = GRPCClient(
///     transport: transport,
///     interceptors: [.apply(ClientMetricsInterceptor(), to: .all)] + resilience.interceptors
/// )
/// ```
///
/// It learns attempts, retries and message sizes as a `ClientCallObserver` of each call: without this
/// interceptor no event is built. Metric handles are made once per method (and status code), so a call
/// costs a few atomic updates and no factory look-up.
public struct ClientMetricsInterceptor: ClientInterceptor {
    /// Each method's metric handles, made on its first call.
    private let table: MethodTable<MethodMetrics>

    /// Creates an interceptor.
    /// - Parameter factory: Where metrics go; by default the factory `MetricsSystem.bootstrap` installed.
    public init(factory: (any MetricsFactory)? = nil) {
        let factory = factory ?? MetricsSystem.factory
        table = MethodTable { method in MethodMetrics(method: method, client: true, factory: factory) }
    }

    /// Measures one call.
    public func intercept(
        request: ClientRequest,
        context: ClientContext,
        next: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        let metrics = table.value(for: context.descriptor)
        let call = ClientCallRecorder(metrics: metrics)
        var observed = context
        observed.callObservers.append(call)
        var response: ClientResponse
        do {
            response = try await next(request, observed)
        } catch {
            call.ended(code: Self.code(of: error))
            throw error
        }
        response.body = response.body.notifying(call)
        return response
    }

    /// The status code a call that threw `error` ended with.
    static func code(of error: any Error) -> Status.Code {
        switch error {
        case let rpc as RPCError: rpc.code
        case is CancellationError: .cancelled
        default: .unknown
        }
    }
}
