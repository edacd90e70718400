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
    private let table: MethodMetricsTable

    /// Creates an interceptor.
    /// - Parameter factory: Where metrics go; by default the factory `MetricsSystem.bootstrap` installed.
    public init(factory: (any MetricsFactory)? = nil) {
        table = MethodMetricsTable(client: false, factory: factory ?? MetricsSystem.factory)
    }

    /// Measures one call.
    public func intercept(
        request: ServerRequest,
        context: ServerContext,
        next: @concurrent @Sendable (ServerRequest, ServerContext) async throws -> Void
    ) async throws {
        let metrics = table.metrics(for: context.descriptor)
        let start = ContinuousClock.now
        metrics.started.increment()
        metrics.active.increment()
        var measured = request
        let requestSize = metrics.requestSize
        measured.messages = request.messages.map { message in
            requestSize.record(message.count)
            return message
        }
        if let responseSize = metrics.responseSize {
            context.observeResponseMessages { responseSize.record($0) }
        }
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

    private static func ended(_ metrics: MethodMetrics, code: Status.Code, since start: ContinuousClock.Instant) {
        let (seconds, attoseconds) = start.duration(to: .now).components
        metrics.active.decrement()
        metrics.ended(code: code, nanoseconds: seconds * 1_000_000_000 + attoseconds / 1_000_000_000, attempts: 0)
    }
}
