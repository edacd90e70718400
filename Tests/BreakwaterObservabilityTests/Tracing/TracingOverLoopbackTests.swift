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

@Suite("Tracing across our client and our server over loopback HTTP/2", .timeLimit(.minutes(TestTime.minutes(1))))
struct TracingOverLoopbackTests {
    static let retry = RetryInterceptor(
        policy: RetryPolicy(
            maxAttempts: 3, initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(1), backoffMultiplier: 1,
            retryableStatusCodes: [.unavailable]),
        random: { 0 })

    @Test("one trace id from the client's span to the server's: traceparent and tracestate cross the wire, the server span is the client span's child")
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
        let client = try #require(spans.first { $0.kind == .client })
        let server = try #require(spans.first { $0.kind == .server })
        #expect(spans.count == 2)
        #expect(client.operationName == "echo.Echo/Get")
        #expect(server.operationName == "echo.Echo/Get")
        #expect(server.traceID == client.traceID)
        #expect(server.parentSpanID == client.spanID)
        #expect(client.traceID.count == 32)

        let sent = try #require(metadata.recorded.first)
        #expect(sent.firstString(forKey: "traceparent") == "00-\(client.traceID)-\(client.spanID)-01")
        #expect(sent.firstString(forKey: "tracestate") == "vendor=value")
        #expect(server.context.traceState == "vendor=value")

        for span in [client, server] {
            #expect(span.attributes["rpc.system"]?.toSpanAttribute() == "grpc")
            #expect(span.attributes["rpc.service"]?.toSpanAttribute() == "echo.Echo")
            #expect(span.attributes["rpc.method"]?.toSpanAttribute() == "Get")
            #expect(span.attributes["rpc.grpc.status_code"]?.toSpanAttribute() == 0)
            #expect(span.status == nil)
        }
        #expect(client.events.map(\.name) == ["attempt"])
    }

    @Test("a retried call: one client span with an event per attempt and per retry; three server spans in its trace, two with an error status")
    func retriedCall() async throws {
        let tracer = W3CTestTracer()
        try await withLoopbackEcho(
            provider: EchoProvider(faults: .init(failFirst: 2)),
            serverInterceptors: [ServerTracingInterceptor(tracer: tracer)],
            interceptors: [.apply(ClientTracingInterceptor(tracer: tracer), to: .all), .apply(Self.retry, to: .all)]
        ) { echo, _ in
            _ = try await echo.get(echoRequest("x"))
        }
        let spans = tracer.spans.finishedSpans
        let client = try #require(spans.first { $0.kind == .client })
        let servers = spans.filter { $0.kind == .server }
        #expect(servers.count == 3)
        #expect(servers.allSatisfy { $0.traceID == client.traceID && $0.parentSpanID == client.spanID })
        #expect(servers.filter { $0.status?.code == .error }.count == 2)
        #expect(client.events.map(\.name) == ["attempt", "retry", "attempt", "retry", "attempt"])
        let retry = try #require(client.events.first { $0.name == "retry" })
        #expect(retry.attributes["rpc.retry.reason"]?.toSpanAttribute() == "status")
        #expect(retry.attributes["rpc.attempt"]?.toSpanAttribute() == 2)
        #expect(client.status == nil)
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

    @Test("a failed call: the client span's status is an error with the gRPC code; a breaker's rejection is an event")
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
        #expect(spans.count == 2)
        for span in spans {
            #expect(span.status?.code == .error)
            #expect(span.attributes["rpc.grpc.status_code"]?.toSpanAttribute() == 14)
        }
        #expect(spans[0].events.map(\.name) == ["circuit-breaker admitted", "attempt"])
        #expect(spans[1].events.map(\.name) == ["circuit-breaker rejected"])
    }
}
