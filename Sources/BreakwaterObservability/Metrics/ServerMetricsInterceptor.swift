import BreakwaterCore
import CoreMetrics

/// A server interceptor that reports every call to swift-metrics, named after OpenTelemetry's RPC
/// conventions (see ``RPCMetricNames``): calls started and active, each call's duration by status code,
/// and the size of each request and response message.
///
/// ```swift
/// let server = GRPCServer(transport: transport, services: [echo], interceptors: [ServerMetricsInterceptor()])
/// ```
///
/// A call's status is OK when the handler returns, the code of the `RPCError` it throws, CANCELLED for a
/// cancellation, and UNKNOWN for any other error.
public struct ServerMetricsInterceptor: ServerInterceptor {
    /// Each method's metric handles, made on its first call.
    private let table: MethodTable<MethodMetrics>

    /// Creates an interceptor.
    /// - Parameter factory: Where metrics go; by default the factory `MetricsSystem.bootstrap` installed.
    public init(factory: (any MetricsFactory)? = nil) {
        let factory = factory ?? MetricsSystem.factory
        table = MethodTable { method in MethodMetrics(method: method, client: false, factory: factory) }
    }

    /// Measures one call.
    public func intercept(
        request: ServerRequest,
        context: ServerContext,
        next: @concurrent @Sendable (ServerRequest, ServerContext) async throws -> Void
    ) async throws {
        let metrics = table.value(for: context.descriptor)
        let start = MonotonicNanoseconds.now()
        metrics.callStarted()
        var measured = request
        measured.messages = request.messages.map { message in
            metrics.requestMessage(bytes: message.count)
            return message
        }
        context.observeResponseMessages { metrics.responseMessage(bytes: $0) }
        let code: Status.Code
        do {
            try await next(measured, context)
            code = .ok
        } catch {
            code = ClientMetricsInterceptor.code(of: error)
            Self.ended(metrics, code: code, since: start)
            throw error
        }
        Self.ended(metrics, code: code, since: start)
    }

    private static func ended(_ metrics: MethodMetrics, code: Status.Code, since start: Int64) {
        metrics.callEnded(code: code, nanoseconds: MonotonicNanoseconds.now() &- start, attempts: 0)
    }
}
