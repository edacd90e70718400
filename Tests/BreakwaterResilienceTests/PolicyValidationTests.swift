import BreakwaterCore
import BreakwaterTestSupport
import EchoService
import Testing

@testable import BreakwaterResilience

/// Policies built in code are checked where they are put to use, with the paths the JSON loader gives,
/// and an invalid one is an error: never a trap, never a chain that fails every call.
@Suite("Policies built in code are validated", .timeLimit(.minutes(TestTime.minutes(1))))
struct PolicyValidationTests {
    static let get = MethodKey(service: "echo.Echo", method: "Get")
    static let retry = RetryPolicy(
        maxAttempts: 3, initialBackoff: .milliseconds(10), maxBackoff: .seconds(1), backoffMultiplier: 2,
        retryableStatusCodes: [.unavailable])

    /// The description of the `ConfigurationError` `body` throws; nil when it throws nothing.
    func configurationError(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as ConfigurationError {
            return error.description
        } catch {
            return "not a ConfigurationError: \(error)"
        }
    }

    @Test("ResilienceConfiguration names the entry and field of the first invalid policy")
    func resilienceConfigurationRejects() {
        var badRetry = Self.retry
        badRetry.maxAttempts = 1
        let cases: [(PolicyTable, RetryThrottlingPolicy?, String)] = [
            (PolicyTable(entries: [Self.get: MethodPolicy(timeout: .seconds(-1))]), nil,
             #"policies["echo.Echo/Get"].timeout: -1.0 seconds is not > 0"#),
            (PolicyTable(defaultPolicy: MethodPolicy(retry: badRetry)), nil, "policies.default.retry.maxAttempts: 1 is not > 1"),
            (PolicyTable(entries: [MethodKey(service: "echo.Echo"): MethodPolicy(circuitBreaker: CircuitBreakerPolicy(failureRateThreshold: 1.5))]),
             nil, #"policies["echo.Echo"].circuitBreaker.failureRateThreshold: 1.5 is not in (0, 1]"#),
            (PolicyTable(), RetryThrottlingPolicy(maxTokens: 10, tokenRatio: 0), "retryThrottling.tokenRatio: 0.0 is not > 0"),
        ]
        for (table, throttling, expected) in cases {
            let error = configurationError {
                _ = try ResilienceConfiguration(policies: table, retryThrottling: throttling, target: "echo")
            }
            #expect(error == expected)
        }
        // A valid table passes, and so does the same table built from a ServiceConfig.
        let valid = PolicyTable(entries: [Self.get: MethodPolicy(timeout: .seconds(1), retry: Self.retry)])
        #expect(configurationError { _ = try ResilienceConfiguration(policies: valid, target: "echo") } == nil)
        #expect(configurationError {
            _ = try ResilienceConfiguration(serviceConfig: ServiceConfig(policies: valid), target: "echo")
        } == nil)
    }

    @Test("entries are checked in key order, so the same table always names the same field")
    func deterministic() {
        var entries: [MethodKey: MethodPolicy] = [:]
        for i in 0..<20 { entries[MethodKey(service: "s\(i)")] = MethodPolicy(timeout: .zero) }
        let errors = Set((0..<10).map { _ in
            configurationError { try PolicyTable(entries: entries).validate() }
        })
        #expect(errors == [#"policies["s0"].timeout: 0.0 seconds is not > 0"#])
    }

    @Test("a standalone breaker with an invalid policy is an error at construction")
    func breakerInitThrows() {
        let error = configurationError {
            _ = try CircuitBreaker(name: "db", policy: CircuitBreakerPolicy(consecutiveFailures: nil))
        }
        #expect(error == "consecutiveFailures: is disabled and no rate rule is set, so the breaker could never trip")
        #expect(configurationError { _ = try CircuitBreakerRegistry().breaker(for: BreakerKey(name: "x"), policy: CircuitBreakerPolicy(halfOpenProbes: 0)) }
            == "halfOpenProbes: 0 is not >= 1")
    }

    @Test("interceptors put together by hand fail the call, not the process, on an invalid policy")
    func handMadeChainFailsTheCall() async throws {
        let invalid = CircuitBreakerPolicy(jitter: 2)
        let chains: [[ConditionalInterceptor<any ClientInterceptor>]] = [
            [.apply(CircuitBreakerInterceptor(policy: invalid, target: "echo"), to: .all)],
            [.apply(
                ResilienceInterceptor(
                    timeout: TimeoutInterceptor(policies: PolicyTable(defaultPolicy: MethodPolicy(timeout: .seconds(-1)))),
                    retry: RetryInterceptor(policies: PolicyTable()),
                    circuitBreaker: CircuitBreakerInterceptor(policies: PolicyTable(), target: "echo")),
                to: .all)],
        ]
        for (i, chain) in chains.enumerated() {
            try await withEcho(interceptors: chain) { h in
                let error = await rpcError { _ = try await h.echo.get(echoRequest("x")) }
                #expect(error?.code == .failedPrecondition)
                let expected = i == 0 ? "circuitBreaker.jitter: 2.0 is not in [0, 1)" : "timeout: -1.0 seconds is not > 0"
                #expect(error?.message == "invalid resilience policy for /echo.Echo/Get: \(expected)")
                #expect(h.provider.callCount(.get) == 0)
            }
        }
    }
}
