import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterResilience
import EchoService

/// The settings of the hedging benchmark.
struct HedgingBenchSettings: Sendable {
    /// Measured calls per variant (after a warm-up of a tenth of them).
    var calls = 4_000
    /// Concurrent callers, each on its own share of the calls.
    var concurrency = 8
    /// The share of server calls that are slow, and how slow.
    var slowRate = 0.05
    var slowDelay: Duration = .milliseconds(200)
    /// The hedged client's policy.
    var hedgingDelay: Duration = .milliseconds(10)
    var maxAttempts = 2
}

extension Benchmarks {
    // MARK: 6. Hedging against a latency tail

    /// Unary latency against an HTTP/2 echo server whose `slowRate` of calls take `slowDelay`: a plain
    /// client, then the standard chain with hedging (timeout, breaker, retry throttle, one hedge after
    /// `hedgingDelay`). Also records how many server calls each client call cost.
    func hedging(_ hedge: HedgingBenchSettings, into figures: inout Figures) async throws {
        let server = try await EchoServerFixture.http2(
            faults: EchoProvider.Faults(slowRate: hedge.slowRate, slowDelay: hedge.slowDelay))
        let plain = GRPCClient(transport: server.makeTransport())
        let resilience = try ResilienceConfiguration(
            policies: PolicyTable(defaultPolicy: MethodPolicy(
                timeout: .seconds(30), circuitBreaker: CircuitBreakerPolicy(),
                hedging: HedgingPolicy(
                    maxAttempts: hedge.maxAttempts, hedgingDelay: hedge.hedgingDelay, nonFatalStatusCodes: [.unavailable])
            )),
            retryThrottling: RetryThrottlingPolicy(maxTokens: 10, tokenRatio: 0.1),
            target: server.target
        )
        let hedged = GRPCClient(transport: server.makeTransport(), resilience: resilience)
        var errors = 0
        for (name, client) in [("plain", plain), ("hedged", hedged)] {
            let echo = Echo_EchoClient(wrapping: client)
            _ = await Self.fixedCalls(echo: echo, request: request, calls: hedge.calls / 10, concurrency: hedge.concurrency)
            let before = server.provider.callCount(.get)
            let r = await Self.fixedCalls(echo: echo, request: request, calls: hedge.calls, concurrency: hedge.concurrency)
            let serverCalls = server.provider.callCount(.get) - before
            let p = r.samples.percentiles([0.5, 0.9, 0.99, 0.999, 1.0])
            figures.record("hedge.\(name).p50_ms", nanoseconds: p[0], as: .ms)
            figures.record("hedge.\(name).p90_ms", nanoseconds: p[1], as: .ms)
            figures.record("hedge.\(name).p99_ms", nanoseconds: p[2], as: .ms)
            figures.record("hedge.\(name).p999_ms", nanoseconds: p[3], as: .ms)
            figures.record("hedge.\(name).max_ms", nanoseconds: p[4], as: .ms)
            figures.record("hedge.\(name).server_calls_per_call", Double(serverCalls) / Double(max(1, r.samples.count)))
            errors += r.errors
        }
        figures.record("hedge.errors", Double(errors))
        await plain.close()
        await hedged.close()
        await server.stop()
    }

    /// `calls` calls of `Get`, shared among `concurrency` callers; every latency sampled.
    static func fixedCalls(
        echo: Echo_EchoClient, request: Echo_EchoRequest, calls: Int, concurrency: Int
    ) async -> (errors: Int, samples: Samples) {
        let clock = ContinuousClock()
        return await withTaskGroup(of: (Int, Samples).self) { group in
            for worker in 0..<concurrency {
                let share = calls / concurrency + (worker < calls % concurrency ? 1 : 0)
                group.addTask {
                    var samples = Samples(capacity: share)
                    var errors = 0
                    for _ in 0..<share {
                        let t0 = clock.now
                        if !(await CallCheck.get(echo, request)) { errors += 1 }
                        samples.append(clock.now - t0)
                    }
                    return (errors, samples)
                }
            }
            var errors = 0
            var samples = Samples(capacity: calls)
            for await (e, s) in group {
                errors += e
                samples.append(contentsOf: s)
            }
            return (errors, samples)
        }
    }
}
