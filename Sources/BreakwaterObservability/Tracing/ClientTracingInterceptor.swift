import BreakwaterCore
import Tracing

/// A client interceptor that traces every call through swift-distributed-tracing: a client span per
/// call, named `service/method` as OpenTelemetry's RPC conventions say, with an event for each network
/// attempt, each retry (its reason and backoff) and each circuit breaker decision, and the gRPC status
/// as the span's status and its `rpc.grpc.status_code` attribute.
///
/// The span's context is injected into the request metadata with the tracer's propagation format:
/// W3C `traceparent` and `tracestate` for an OpenTelemetry tracer (swift-otel), so that a server with
/// ``ServerTracingInterceptor`` continues the trace. The span's parent is the task's
/// `ServiceContext.current` (for example the span of the server call being handled).
///
/// Put it first (outermost), so that one span covers the whole call and its retries:
///
/// ```swift
/// InstrumentationSystem.bootstrap(tracer)
/// let client = GRPCClient(
///     transport: transport,
///     interceptors: [.apply(ClientTracingInterceptor(), to: .all)] + resilience.interceptors
/// )
/// ```
public struct ClientTracingInterceptor: ClientInterceptor {
    private let tracer: any Tracer

    /// Creates an interceptor.
    /// - Parameter tracer: The tracer; by default the one `InstrumentationSystem.bootstrap` installed
    ///   (so bootstrap before making the interceptor).
    public init(tracer: (any Tracer)? = nil) {
        self.tracer = tracer ?? InstrumentationSystem.tracer
    }

    /// Traces one call.
    public func intercept(
        request: ClientRequest,
        context: ClientContext,
        next: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        let tracer = self.tracer
        let parent = ServiceContext.current ?? .topLevel
        let method = context.descriptor
        let span = tracer.startAnySpan("\(method.service)/\(method.method)", context: parent, ofKind: .client)
        var traced = request
        tracer.inject(span.context, into: &traced.metadata, using: MetadataInjector())
        guard span.isRecording else {
            // Sampled out (or a no-op tracer): the context still goes to the server and to the calls
            // made inside, but nothing is recorded, so no observer is needed and the span ends now.
            span.end()
            return try await ServiceContext.withValue(span.context) { [traced] in try await next(traced, context) }
        }
        CallSpanStatus.describe(span, method)
        let call = ClientCallSpan(span: span)
        var observed = context
        observed.callObservers.append(call)

        var response: ClientResponse
        do {
            response = try await ServiceContext.withValue(span.context) { [traced, observed] in
                try await next(traced, observed)
            }
        } catch {
            let status = CallSpanStatus.status(of: error)
            call.ended(code: status.code, message: status.message)
            throw error
        }
        response.body = response.body.notifying(call)
        return response
    }
}
