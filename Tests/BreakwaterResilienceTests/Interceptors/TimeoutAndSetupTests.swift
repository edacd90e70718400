import BreakwaterCore
import BreakwaterTestSupport
import EchoService
import Testing

@testable import BreakwaterResilience

@Suite("TimeoutInterceptor and the one-line setup", .timeLimit(.minutes(TestTime.minutes(1))))
struct TimeoutAndSetupTests {
    @Test("a hang server yields DEADLINE_EXCEEDED on time, and the server sees the cancellation")
    func hangServer() async throws {
        try await withEcho(
            provider: EchoProvider(faults: .init(hang: true)),
            interceptors: [.apply(TimeoutInterceptor(timeout: .milliseconds(200)), to: .all)]
        ) { h in
            let start = ContinuousClock.now
            let error = await rpcError { _ = try await h.echo.get(echoRequest("x")) }
            #expect(error?.code == .deadlineExceeded)
            #expect(start.duration(to: .now) < .seconds(5))
            await h.provider.waitForCancellations(atLeast: 1)
            #expect(h.provider.cancellationCount == 1)
        }
    }

    @Test("the effective deadline is the earlier of the caller's and the policy's")
    func effectiveDeadline() async throws {
        let recorder = ContextRecorder()
        try await withEcho(
            interceptors: [
                .apply(TimeoutInterceptor(timeout: .seconds(60)), to: .all),
                .apply(recorder, to: .all),
            ]
        ) { h in
            // Each deadline is "now + the effective timeout" for some now within its own call, however slow
            // the machine is: between start + T and end + T.
            var windows: [(start: ContinuousClock.Instant, end: ContinuousClock.Instant)] = []
            for timeout in [Duration.seconds(5), .seconds(600), nil] {
                let start = ContinuousClock.now
                _ = try await h.echo.get(echoRequest("x"), options: CallOptions(timeout: timeout))
                windows.append((start, .now))
            }
            let deadlines = recorder.recorded.compactMap { $0.deadline }
            try #require(deadlines.count == 3)
            for (i, expected) in [Duration.seconds(5), .seconds(60), .seconds(60)].enumerated() {
                #expect(deadlines[i] >= windows[i].start + expected && deadlines[i] <= windows[i].end + expected, "call \(i)")
            }
        }
    }

    static let config = """
        {
          "methodConfig": [
            {
              "name": [{"service": "echo.Echo", "method": "Get"}],
              "timeout": "5s",
              "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.001s", "maxBackoff": "0.001s",
                              "backoffMultiplier": 1, "retryableStatusCodes": ["UNAVAILABLE"]},
              "circuitBreakerPolicy": {"consecutiveFailures": 10, "openDuration": "30s"}
            },
            {
              "name": [{"service": "echo.Echo", "method": "Update"}],
              "timeout": "2s",
              "circuitBreakerPolicy": {"consecutiveFailures": 1, "openDuration": "10s"}
            }
          ],
          "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1}
        }
        """

    @Test("a service-config JSON builds Timeout -> Retry -> CircuitBreaker with a policy per method")
    func serviceConfigChain() async throws {
        let resilience = try ResilienceConfiguration.serviceConfig(json: Self.config, target: "echo")
        let chain = resilience.interceptors.map(\.interceptor)
        #expect(chain.count == 1)
        let standard = try #require(chain.first as? ResilienceInterceptor)
        #expect(standard.timeout.policies == resilience.policies)
        #expect(standard.retry.throttle === resilience.retryThrottle)
        #expect(standard.circuitBreaker.registry === resilience.registry)
        #expect(resilience.retryThrottle?.policy == RetryThrottlingPolicy(maxTokens: 10, tokenRatio: 0.1))
        #expect(resilience.policies.policy(for: Echo_Echo.Method.Get.descriptor)?.retry?.maxAttempts == 3)
        #expect(resilience.policies.policy(for: Echo_Echo.Method.Update.descriptor)?.retry == nil)

        let transport = InProcessTransport()
        let provider = EchoProvider(faults: .init(failFirst: 2))
        let server = GRPCServer(transport: transport.server, services: [provider])
        _ = try await server.start()
        let grpc = GRPCClient(transport: transport.client, resilience: resilience)
        let echo = Echo_EchoClient(wrapping: grpc)

        // Get is retried through its two failures.
        #expect(try await echo.get(echoRequest("hi")).text == "hi")
        #expect(provider.callCount(.get) == 3)
        // Update is not retried, and its breaker opens after one failure.
        let error = await rpcError { for try await _ in try await echo.update(requests: writing(["a"])) {} }
        #expect(error?.code == .unavailable)
        let rejected = await rpcError { for try await _ in try await echo.update(requests: writing(["a"])) {} }
        #expect(rejected?.isCircuitBreakerRejection == true)
        #expect(provider.callCount(.update) == 1)

        let states = resilience.breakerSnapshots().map { "\($0.key.method ?? "*")=\($0.state)" }
        #expect(states == ["Get=CLOSED", "Update=OPEN"])

        await grpc.close()
        await server.shutdownGracefully(gracePeriod: .seconds(5))
    }

    @Test("invalid config and unreadable files fail at load with the field named")
    func invalidConfig() {
        #expect(throws: ConfigurationError.self) {
            _ = try ResilienceConfiguration.serviceConfig(file: "/nonexistent/resilience.json", target: "t")
        }
        do {
            _ = try ResilienceConfiguration.serviceConfig(
                json: #"{"methodConfig": [{"name": [{"service": "s"}], "retryPolicy": {"maxAttempts": 1}}]}"#,
                target: "t")
            Issue.record("expected a ConfigurationError")
        } catch {
            #expect(error.path.hasPrefix("methodConfig[0].retryPolicy"))
        }
    }
}
