import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterResilience
import EchoService

/// The settings of the concurrency-limit benchmark.
struct ConcurrencyLimitBenchSettings: Sendable {
    /// Closed-loop callers.
    var callers = 64
    /// How long each variant runs.
    var duration: Duration = .seconds(3)
    /// The server's latency per call in flight.
    var delayPerConcurrentCall: Duration = .milliseconds(1)
    /// Each call's deadline.
    var deadline: Duration = .milliseconds(40)
    /// How long a caller waits after its call was rejected by the client's limit before calling again.
    var rejectionPause: Duration = .milliseconds(1)
}

extension Benchmarks {
    // MARK: 7. Concurrency limits against a backend whose latency climbs with load

    /// Goodput (calls answered OK per second) and their p99, of `callers` closed-loop callers against an
    /// HTTP/2 echo server whose latency is `delayPerConcurrentCall` × its calls in flight, each call with
    /// `deadline`: a plain client, a fixed bulkhead, and the adaptive limit.
    func concurrencyLimit(_ bench: ConcurrencyLimitBenchSettings, into figures: inout Figures) async throws {
        let server = try await EchoServerFixture.http2(
            faults: EchoProvider.Faults(delayPerConcurrentCall: bench.delayPerConcurrentCall))
        let variants: [(String, ConcurrencyLimitPolicy?)] = [
            ("plain", nil), ("bulkhead16", .fixed(16)), ("adaptive", .adaptive(GradientLimit.Configuration())),
        ]
        for (name, policy) in variants {
            let limit = try policy.map { try ConcurrencyLimitInterceptor(policy: $0) }
            let client = GRPCClient(
                transport: server.makeTransport(), interceptors: limit.map { [.apply($0, to: .all)] } ?? [])
            let echo = Echo_EchoClient(wrapping: client)
            // Warm up the connection (and let the adaptive limit find its level).
            _ = await Self.limitedLoop(echo: echo, request: request, bench: bench, duration: .milliseconds(500))
            let before = server.provider.callCount(.get)
            let r = await Self.limitedLoop(echo: echo, request: request, bench: bench, duration: bench.duration)
            let seconds = r.elapsed.seconds
            let p = r.okSamples.percentiles([0.5, 0.99])
            figures.record("limit.\(name).goodput_qps", Double(r.okSamples.count) / seconds)
            figures.record("limit.\(name).p50_ms", nanoseconds: p[0], as: .ms)
            figures.record("limit.\(name).p99_ms", nanoseconds: p[1], as: .ms)
            figures.record("limit.\(name).deadline_qps", Double(r.deadlines) / seconds)
            figures.record("limit.\(name).rejected_qps", Double(r.rejected) / seconds)
            // How long a rejected call took: the limit answers at once, without waiting for a slot.
            if r.rejectSamples.count > 0 {
                let q = r.rejectSamples.percentiles([0.5, 0.99])
                figures.record("limit.\(name).reject_p50_us", nanoseconds: q[0], as: .us)
                figures.record("limit.\(name).reject_p99_us", nanoseconds: q[1], as: .us)
            }
            figures.record("limit.\(name).server_qps", Double(server.provider.callCount(.get) - before) / seconds)
            if let limit { figures.record("limit.\(name).final_limit", Double(limit.limiter(for: Echo_Echo.Method.Get.descriptor).limit)) }
            // UNAVAILABLE is how an overloaded connection refuses streams: a figure, not a bench error.
            var other = r.other
            figures.record("limit.\(name).unavailable_qps", Double(other.removeValue(forKey: "UNAVAILABLE") ?? 0) / seconds)
            figures.record("limit.\(name).errors", Double(other.values.reduce(0, +)))
            for (code, count) in other.sorted(by: { $0.key < $1.key }) {
                figures.record("limit.\(name).error_\(code)", Double(count))
            }
            await client.close()
        }
        await server.stop()
    }

    /// `bench.callers` callers calling `Get` in a loop for `duration`, each call with `bench.deadline`.
    static func limitedLoop(
        echo: Echo_EchoClient, request: Echo_EchoRequest, bench: ConcurrencyLimitBenchSettings, duration: Duration
    ) async -> (
        okSamples: Samples, deadlines: Int, rejected: Int, rejectSamples: Samples, other: [String: Int], elapsed: Duration
    ) {
        let clock = ContinuousClock()
        let start = clock.now
        let end = start + duration
        let options = CallOptions(timeout: bench.deadline)
        let results = await withTaskGroup(of: (Samples, Int, Int, Samples, [String: Int]).self) { group in
            for _ in 0..<bench.callers {
                group.addTask {
                    var samples = Samples(capacity: 4096)
                    var rejectSamples = Samples(capacity: 4096)
                    var deadlines = 0, rejected = 0
                    var other: [String: Int] = [:]
                    while clock.now < end {
                        let t0 = clock.now
                        do {
                            let response = try await echo.get(request, options: options)
                            if response.text == request.text { samples.append(clock.now - t0) } else { other["WRONG_TEXT", default: 0] += 1 }
                        } catch let error as RPCError where error.code == .deadlineExceeded {
                            deadlines += 1
                        } catch let error as RPCError where error.code == .resourceExhausted {
                            rejected += 1
                            rejectSamples.append(clock.now - t0)
                            try? await Task.sleep(for: bench.rejectionPause)
                        } catch let error as RPCError {
                            other[error.code.name, default: 0] += 1
                        } catch {
                            other["NOT_RPC", default: 0] += 1
                        }
                    }
                    return (samples, deadlines, rejected, rejectSamples, other)
                }
            }
            var all = (Samples(), 0, 0, Samples(), [String: Int]())
            for await (s, d, r, rs, o) in group {
                all.0.append(contentsOf: s)
                all.1 += d
                all.2 += r
                all.3.append(contentsOf: rs)
                all.4.merge(o, uniquingKeysWith: +)
            }
            return all
        }
        return (results.0, results.1, results.2, results.3, results.4, clock.now - start)
    }
}
