import BreakwaterCore
import Tracing

/// A server interceptor that traces every call through swift-distributed-tracing: it extracts the
/// client's trace context from the request metadata (W3C `traceparent` and `tracestate` for an
/// OpenTelemetry tracer), starts a server span named `service/method` under it, and runs the handler
/// with that span as `ServiceContext.current`, so that the handler's own calls (through a client with
/// ``ClientTracingInterceptor``) continue the same trace.
///
/// The handler's outcome is the span's status: OK when it returns, the code of the `RPCError` it throws
/// (CANCELLED for a cancellation, UNKNOWN for any other error) as `rpc.grpc.status_code`, and an error
/// status for the codes that mean the server failed, as OpenTelemetry's RPC conventions say.
///
/// ```swift
/// let server = GRPCServer(transport: transport, services: [echo], interceptors: [ServerTracingInterceptor()])
/// ```
///
/// With swift-distributed-tracing's `NoOpTracer` (the tracer when none was bootstrapped) the interceptor
/// only calls `next`.
public struct ServerTracingInterceptor: ServerInterceptor {
    private let tracer: any Tracer
    /// Whether the tracer is the no-op one: then nothing is extracted or traced.
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
        request: ServerRequest,
        context: ServerContext,
        next: @concurrent @Sendable (ServerRequest, ServerContext) async throws -> Void
    ) async throws {
        if isNoOp { return try await next(request, context) }
        let tracer = self.tracer
        var parent = ServiceContext.current ?? .topLevel
        tracer.extract(request.metadata, into: &parent, using: MetadataExtractor())
        let method = context.descriptor
        let span = tracer.startAnySpan(names.value(for: method), context: parent, ofKind: .server)
        if span.isRecording {
            CallSpanStatus.describe(span, method)
            span.attributes["network.peer.address"] = context.peer
        }
        do {
            try await ServiceContext.withValue(span.context) {
                try await next(request, context)
            }
        } catch {
            let status = CallSpanStatus.status(of: error)
            CallSpanStatus.end(span, code: status.code, message: status.message, server: true)
            throw error
        }
        CallSpanStatus.end(span, code: .ok, message: nil, server: true)
    }
}
