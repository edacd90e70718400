@_spi(Locking) import BreakwaterCore
import BreakwaterObservability
import BreakwaterResilience
import BreakwaterTestSupport
import EchoService
import InMemoryTracing

import Testing
import Tracing

/// Records the request metadata of every call the server sees.
final class ServerMetadataRecorder: ServerInterceptor {
    private let seen = TSanMutex<[Metadata]>([])
    var recorded: [Metadata] { seen.withLock { $0 } }

    func intercept(
        request: ServerRequest, context: ServerContext,
        next: @Sendable (ServerRequest, ServerContext) async throws -> Void
    ) async throws {
        seen.withLock { $0.append(request.metadata) }
        try await next(request, context)
    }
}

/// A finished trace's spans, sorted out: the client's call spans (no client parent), their attempt
/// spans (a client parent) in attempt order, and the server spans.
struct ClientTrace {
    let calls: [FinishedInMemorySpan]
    let attempts: [FinishedInMemorySpan]
    let servers: [FinishedInMemorySpan]

    init(_ spans: [FinishedInMemorySpan]) {
        let clients = spans.filter { $0.kind == .client }
        let clientIDs = Set(clients.map(\.spanID))
        calls = clients.filter { span in span.parentSpanID.map { !clientIDs.contains($0) } ?? true }
        attempts = clients.filter { span in span.parentSpanID.map { clientIDs.contains($0) } ?? false }
            .sorted { ($0.attempt ?? 0) < ($1.attempt ?? 0) }
        servers = spans.filter { $0.kind == .server }
    }
}

extension FinishedInMemorySpan {
    var attempt: Int? {
        if case .int64(let number)? = attributes["rpc.attempt"]?.toSpanAttribute() { Int(number) } else { nil }
    }
    var statusCode: Int? {
        if case .int64(let code)? = attributes["rpc.grpc.status_code"]?.toSpanAttribute() { Int(code) } else { nil }
    }
    var retryReason: String? {
        if case .string(let reason)? = attributes["rpc.retry.reason"]?.toSpanAttribute() { reason } else { nil }
    }
}

@Suite("Tracing across our client and our server over loopback HTTP/2", .timeLimit(.minutes(TestTime.minutes(1))))
struct TracingOverLoopbackTests {
    static let retry = RetryInterceptor(
        policy: RetryPolicy(
            maxAttempts: 3, initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(1), backoffMultiplier: 1,
            retryableStatusCodes: [.unavailable]),
        random: { 0 })

    @Test("one trace id from the client's call span through its attempt span to the server's: traceparent and tracestate cross the wire")
    func oneTrace() async throws {
        let tracer = W3CTestTracer()
        let metadata = ServerMetadataRecorder()
        var parent = ServiceContext.topLevel
        parent.traceState = "vendor=value"
        try await ServiceContext.withValue(parent) {
            try await withLoopbackEcho(
                serverInterceptors: [metadata, ServerTracingInterceptor(tracer: tracer)],
                interceptors: [.apply(ClientTracingInterceptor(tracer: tracer), to: .all)]
            ) { echo, _ in
                _ = try await echo.get(echoRequest("traced"))
            }
        }
        let spans = tracer.spans.finishedSpans
        let trace = ClientTrace(spans)
        #expect(spans.count == 3)
        let call = try #require(trace.calls.first)
        let attempt = try #require(trace.attempts.first)
        let server = try #require(trace.servers.first)
        #expect(trace.calls.count == 1 && trace.attempts.count == 1 && trace.servers.count == 1)
        for span in [call, attempt, server] {
            #expect(span.operationName == "echo.Echo/Get")
            #expect(span.traceID == call.traceID)
            #expect(span.attributes["rpc.system"]?.toSpanAttribute() == "grpc")
            #expect(span.attributes["rpc.service"]?.toSpanAttribute() == "echo.Echo")
            #expect(span.attributes["rpc.method"]?.toSpanAttribute() == "Get")
            #expect(span.statusCode == 0)
            #expect(span.status == nil)
        }
        #expect(call.traceID.count == 32)
        #expect(attempt.parentSpanID == call.spanID)
        #expect(server.parentSpanID == attempt.spanID)
        #expect(attempt.attempt == 1)
        #expect(attempt.retryReason == nil)
        #expect(call.attempt == nil)

        let sent = try #require(metadata.recorded.first)
        #expect(sent.firstString(forKey: "traceparent") == "00-\(attempt.traceID)-\(attempt.spanID)-01")
        #expect(sent.firstString(forKey: "tracestate") == "vendor=value")
        #expect(server.context.traceState == "vendor=value")
        #expect(call.events.isEmpty)
        #expect(attempt.events.isEmpty)
    }

    @Test("a call retried twice: one call span with the two retries, three attempt spans under it with their number, reason, breaker decision and status, each server span under its attempt")
    func retriedCall() async throws {
        let tracer = W3CTestTracer()
        let metadata = ServerMetadataRecorder()
        let resilience = try ResilienceConfiguration(
            policies: PolicyTable(
                defaultPolicy: MethodPolicy(
                    retry: RetryPolicy(
                        maxAttempts: 3, initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(1),
                        backoffMultiplier: 1, retryableStatusCodes: [.unavailable]),
                    circuitBreaker: CircuitBreakerPolicy())),
            target: "loopback")
        try await withLoopbackEcho(
            provider: EchoProvider(faults: .init(failFirst: 2)),
            serverInterceptors: [metadata, ServerTracingInterceptor(tracer: tracer)],
            interceptors: [.apply(ClientTracingInterceptor(tracer: tracer), to: .all)] + resilience.interceptors
        ) { echo, _ in
            _ = try await echo.get(echoRequest("x"))
        }
        let trace = ClientTrace(tracer.spans.finishedSpans)
        #expect(trace.calls.count == 1)
        let call = try #require(trace.calls.first)
        #expect(call.statusCode == 0)
        #expect(call.status == nil)
        #expect(call.events.map(\.name) == ["retry", "retry"])
        #expect(call.events.map { $0.attributes["rpc.attempt"]?.toSpanAttribute() } == [2, 3])
        #expect(call.events.allSatisfy { $0.attributes["rpc.retry.reason"]?.toSpanAttribute() == "status" })

        #expect(trace.attempts.count == 3)
        #expect(trace.attempts.map(\.attempt) == [1, 2, 3])
        #expect(trace.attempts.map(\.retryReason) == [nil, "status", "status"])
        #expect(trace.attempts.map(\.statusCode) == [14, 14, 0])
        #expect(trace.attempts.map { $0.status?.code } == [.error, .error, nil])
        for attempt in trace.attempts {
            #expect(attempt.operationName == "echo.Echo/Get")
            #expect(attempt.parentSpanID == call.spanID)
            #expect(attempt.traceID == call.traceID)
            #expect(attempt.events.map(\.name) == ["circuit-breaker admitted"])
            #expect(attempt.events.first?.attributes["detail"]?.toSpanAttribute() == "loopback/echo.Echo/Get")
        }

        // Each server span is the child of the attempt that reached it, in one trace.
        #expect(trace.servers.count == 3)
        #expect(Set(trace.servers.compactMap(\.parentSpanID)) == Set(trace.attempts.map(\.spanID)))
        #expect(trace.servers.allSatisfy { $0.traceID == call.traceID })
        #expect(trace.servers.filter { $0.status?.code == .error }.count == 2)
        let sent = metadata.recorded.compactMap { $0.firstString(forKey: "traceparent") }
        #expect(sent == trace.attempts.map { "00-\($0.traceID)-\($0.spanID)-01" })
    }

    @Test("a hedged call: the hedge is an attempt span with the reason hedge, under the call span")
    func hedgedCall() async throws {
        let tracer = W3CTestTracer()
        // The first attempt fails with a non-fatal status, which sends the hedge at once (the delay
        // never passes).
        let hedging = HedgingInterceptor(
            policy: HedgingPolicy(maxAttempts: 2, hedgingDelay: .seconds(3600), nonFatalStatusCodes: [.unavailable]))
        try await withLoopbackEcho(
            provider: EchoProvider(faults: .init(failFirst: 1)),
            serverInterceptors: [ServerTracingInterceptor(tracer: tracer)],
            interceptors: [.apply(ClientTracingInterceptor(tracer: tracer), to: .all), .apply(hedging, to: .all)]
        ) { echo, _ in
            _ = try await echo.get(echoRequest("h"))
        }
        let trace = ClientTrace(tracer.spans.finishedSpans)
        let call = try #require(trace.calls.first)
        #expect(trace.calls.count == 1)
        #expect(call.statusCode == 0)
        #expect(call.events.map(\.name) == ["retry"])
        #expect(call.events.first?.attributes["rpc.retry.reason"]?.toSpanAttribute() == "hedge")
        #expect(trace.attempts.map(\.attempt) == [1, 2])
        #expect(trace.attempts.map(\.retryReason) == [nil, "hedge"])
        #expect(trace.attempts.map(\.statusCode) == [14, 0])
        #expect(trace.attempts.allSatisfy { $0.parentSpanID == call.spanID })
        #expect(Set(trace.servers.compactMap(\.parentSpanID)) == Set(trace.attempts.map(\.spanID)))
    }

    @Test("a tracer whose spans do not record (the default no-op tracer): calls and their retries run as without tracing")
    func nonRecordingTracer() async throws {
        let metadata = ServerMetadataRecorder()
        let provider = EchoProvider(faults: .init(failFirst: 1))
        try await withLoopbackEcho(
            provider: provider,
            serverInterceptors: [metadata, ServerTracingInterceptor(tracer: NoOpTracer())],
            interceptors: [.apply(ClientTracingInterceptor(tracer: NoOpTracer()), to: .all), .apply(Self.retry, to: .all)]
        ) { echo, _ in
            let answer = try await echo.get(echoRequest("quiet"))
            #expect(answer.text == "quiet")
        }
        #expect(provider.callCount(.get) == 2)
        #expect(metadata.recorded.count == 2)
        #expect(metadata.recorded.allSatisfy { $0.firstString(forKey: "traceparent") == nil })
    }

    @Test("a failed call: the call and attempt spans' status is an error with the gRPC code; a breaker's rejection is an event on the call span, with no attempt span")
    func failedCall() async throws {
        let tracer = W3CTestTracer()
        let resilience = try ResilienceConfiguration(
            policies: PolicyTable(defaultPolicy: MethodPolicy(circuitBreaker: CircuitBreakerPolicy())),
            target: "loopback")
        try await withLoopbackEcho(
            provider: EchoProvider(faults: .init(failFirst: 1)),
            interceptors: [.apply(ClientTracingInterceptor(tracer: tracer), to: .all)] + resilience.interceptors
        ) { echo, _ in
            await #expect(throws: RPCError.self) { _ = try await echo.get(echoRequest("a")) }
            for snapshot in resilience.registry.snapshots() {
                resilience.registry.existingBreaker(for: snapshot.key)?.forceOpen()
            }
            await #expect(throws: RPCError.self) { _ = try await echo.get(echoRequest("b")) }
        }
        let spans = tracer.spans.finishedSpans
        let trace = ClientTrace(spans)
        #expect(spans.count == 3)
        for span in spans {
            #expect(span.status?.code == .error)
            #expect(span.statusCode == 14)
        }
        #expect(trace.calls.count == 2)
        #expect(trace.attempts.count == 1)
        let attempt = try #require(trace.attempts.first)
        let failed = try #require(trace.calls.first { $0.spanID == attempt.parentSpanID })
        let rejected = try #require(trace.calls.first { $0.spanID != attempt.parentSpanID })
        #expect(failed.events.isEmpty)
        #expect(attempt.events.map(\.name) == ["circuit-breaker admitted"])
        #expect(rejected.events.map(\.name) == ["circuit-breaker rejected"])
        #expect(rejected.events.first?.attributes["rpc.attempt"]?.toSpanAttribute() == 1)
    }
}
