import BreakwaterCore
import BreakwaterObservability
import BreakwaterResilience
import BreakwaterTestSupport
import EchoService
import MetricsTestKit
import Testing

@Suite("Per-call metrics over loopback HTTP/2", .timeLimit(.minutes(TestTime.minutes(1))))
struct ClientAndServerMetricsTests {
    static let getDimensions = [("rpc.system", "grpc"), ("rpc.service", "echo.Echo"), ("rpc.method", "Get")]
    static func with(_ code: Status.Code) -> [(String, String)] {
        getDimensions + [("rpc.grpc.status_code", String(code.rawValue))]
    }

    /// Retries UNAVAILABLE up to 3 attempts, with zero backoff (random 0).
    static let retry = RetryInterceptor(
        policy: RetryPolicy(
            maxAttempts: 3, initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(1), backoffMultiplier: 1,
            retryableStatusCodes: [.unavailable]),
        random: { 0 })

    @Test("a call that succeeds on its third attempt: one duration with OK, 3 attempts, 2 retries by status; the server saw 2 UNAVAILABLE and 1 OK")
    func retriedCall() async throws {
        let metrics = TestMetrics()
        try await withLoopbackEcho(
            provider: EchoProvider(faults: .init(failFirst: 2)),
            serverInterceptors: [ServerMetricsInterceptor(factory: metrics)],
            interceptors: [.apply(ClientMetricsInterceptor(factory: metrics), to: .all), .apply(Self.retry, to: .all)]
        ) { echo, _ in
            let answer = try await echo.get(echoRequest("hello"))
            #expect(answer.text == "hello")
        }

        #expect(try metrics.expectCounter("rpc.client.calls.started", Self.getDimensions).totalValue == 1)
        #expect(try metrics.expectMeter("rpc.client.calls.active", Self.getDimensions).values == [1, 0])
        #expect(try metrics.expectTimer("rpc.client.duration", Self.with(.ok)).values.count == 1)
        #expect(metrics.timers(label: "rpc.client.duration").count == 1)
        #expect(try metrics.expectRecorder("rpc.client.attempts_per_rpc", Self.with(.ok)).values == [3])
        #expect(
            try metrics.expectCounter("rpc.client.retries", Self.getDimensions + [("rpc.retry.reason", "status")])
                .totalValue == 2)
        // The request ("hello" in field 1: 7 bytes) went out on each attempt; one response came back.
        #expect(try metrics.expectRecorder("rpc.client.request.size", Self.getDimensions).values == [7, 7, 7])
        #expect(try metrics.expectRecorder("rpc.client.response.size", Self.getDimensions).values == [7])

        #expect(try metrics.expectCounter("rpc.server.calls.started", Self.getDimensions).totalValue == 3)
        #expect(try metrics.expectTimer("rpc.server.duration", Self.with(.unavailable)).values.count == 2)
        #expect(try metrics.expectTimer("rpc.server.duration", Self.with(.ok)).values.count == 1)
        #expect(try metrics.expectMeter("rpc.server.calls.active", Self.getDimensions).values.last == 0)
        #expect(try metrics.expectRecorder("rpc.server.request.size", Self.getDimensions).values == [7, 7, 7])
        // Two attempts failed without a response; the third sent one.
        #expect(try metrics.expectRecorder("rpc.server.response.size", Self.getDimensions).values == [7])
    }

    @Test("a failed call is measured under its status code; a breaker's rejection is counted as one")
    func failedAndRejected() async throws {
        let metrics = TestMetrics()
        let resilience = try ResilienceConfiguration(
            policies: PolicyTable(defaultPolicy: MethodPolicy(circuitBreaker: CircuitBreakerPolicy())),
            target: "loopback")
        try await withLoopbackEcho(
            provider: EchoProvider(faults: .init(failFirst: 1)),
            interceptors: [.apply(ClientMetricsInterceptor(factory: metrics), to: .all)] + resilience.interceptors
        ) { echo, _ in
            await #expect(throws: RPCError.self) { _ = try await echo.get(echoRequest("a")) }
            for snapshot in resilience.registry.snapshots() { resilience.registry.existingBreaker(for: snapshot.key)?.forceOpen() }
            await #expect(throws: RPCError.self) { _ = try await echo.get(echoRequest("b")) }
        }
        let unavailable = try metrics.expectTimer("rpc.client.duration", Self.with(.unavailable))
        #expect(unavailable.values.count == 2)
        // The rejected call made no network attempt.
        #expect(try metrics.expectRecorder("rpc.client.attempts_per_rpc", Self.with(.unavailable)).values == [1, 0])
        #expect(
            try metrics.expectCounter(
                "rpc.client.rejections", Self.getDimensions + [("rpc.rejected_by", "circuit-breaker")]
            ).totalValue == 1)
        #expect(metrics.counters(label: "rpc.client.retries").isEmpty)
    }

    @Test("streaming calls: every message's size, both ways")
    func streamingSizes() async throws {
        let metrics = TestMetrics()
        try await withLoopbackEcho(
            serverInterceptors: [ServerMetricsInterceptor(factory: metrics)],
            interceptors: [.apply(ClientMetricsInterceptor(factory: metrics), to: .all)]
        ) { echo, _ in
            let answer = try await echo.collect([echoRequest("a"), echoRequest("bb"), echoRequest("ccc")].async)
            #expect(answer.text == "a bb ccc")
        }
        let collect = [("rpc.system", "grpc"), ("rpc.service", "echo.Echo"), ("rpc.method", "Collect")]
        #expect(try metrics.expectRecorder("rpc.client.request.size", collect).values == [3, 4, 5])
        #expect(try metrics.expectRecorder("rpc.server.request.size", collect).values == [3, 4, 5])
        #expect(try metrics.expectTimer("rpc.client.duration", collect + [("rpc.grpc.status_code", "0")]).values.count == 1)
    }
}

extension Array where Element: Sendable {
    /// The elements as an async sequence.
    var async: AsyncStream<Element> {
        AsyncStream { continuation in
            for element in self { continuation.yield(element) }
            continuation.finish()
        }
    }
}
