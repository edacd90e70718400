import BreakwaterCore
import Tracing

/// A client interceptor that traces every call through swift-distributed-tracing: a client span per
/// call, named `service/method` as OpenTelemetry's RPC conventions say, and under it a client span per
/// network attempt, as gRPC's own tracing does (call span, then attempt spans).
///
/// - The call's span has the gRPC status as its status and its `rpc.grpc.status_code` attribute, and an
///   event for each retry (its reason and backoff) and for each attempt an interceptor ended without the
///   network (a circuit breaker's rejection).
/// - Each attempt's span has the same name, the attempt's number (`rpc.attempt`), why it was made
///   (`rpc.retry.reason`: `status`, `pushback`, `transparent` or `hedge`; none for the first), an event for
///   the breaker's decision that let it through, and the attempt's own status.
///
/// Each attempt's span context is injected into that attempt's request metadata with the tracer's
/// propagation format: W3C `traceparent` and `tracestate` for an OpenTelemetry tracer (swift-otel), so
/// that a server with ``ServerTracingInterceptor`` continues the trace under the attempt. The call's
/// span is a child of the task's `ServiceContext.current` (for example the span of the server call
/// being handled), and is the current context while the chain inside runs.
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
///
/// With swift-distributed-tracing's `NoOpTracer` (the tracer when none was bootstrapped) the interceptor
/// only calls `next`. A span that does not record (sampled out) still sends its context to the server,
/// but no attempt spans, attributes or events are made for it.
public struct ClientTracingInterceptor: ClientInterceptor {
    private let tracer: any Tracer
    /// Whether the tracer is the no-op one: then nothing is traced or propagated, and nothing is done.
    private let isNoOp: Bool
    /// Each method's span name, `service/method`, made once.
    private let names = MethodTable { method in "\(method.service)/\(method.method)" }

    /// Creates an interceptor.
    /// - Parameter tracer: The tracer; by default the one `InstrumentationSystem.bootstrap` installed
    ///   (so bootstrap before making the interceptor).
    public init(tracer: (any Tracer)? = nil) {
        let tracer = tracer ?? InstrumentationSystem.tracer
        self.tracer = tracer
        isNoOp = tracer is NoOpTracer
    }

    /// Traces one call.
    public func intercept(
        request: ClientRequest,
        context: ClientContext,
        next: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        // The no-op tracer's span would only carry the current context on, and inject nothing.
        if isNoOp { return try await next(request, context) }
        let tracer = self.tracer
        let parent = ServiceContext.current ?? .topLevel
        let method = context.descriptor
        let name = names.value(for: method)
        let span = tracer.startAnySpan(name, context: parent, ofKind: .client)
        guard span.isRecording else {
            // Sampled out: the context still goes to the server and to the calls made inside, but
            // nothing is recorded, so no observer is needed and the span ends now.
            var traced = request
            tracer.inject(span.context, into: &traced.metadata, using: MetadataInjector())
            span.end()
            return try await ServiceContext.withValue(span.context) { [traced] in try await next(traced, context) }
        }
        CallSpanStatus.describe(span, method)
        // Each attempt's span context goes into that attempt's metadata (`ClientCallSpan.attemptStarting`).
        let call = ClientCallSpan(span: span, tracer: tracer, name: name, method: method)
        var observed = context
        observed.callObservers.append(call)

        var response: ClientResponse
        do {
            response = try await ServiceContext.withValue(span.context) { [observed] in
                try await next(request, observed)
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
