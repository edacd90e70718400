@_spi(Locking) import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterResilience
import BreakwaterTestSupport
import EchoService
import Foundation
import Synchronization
import Testing

/// Three `echo-server` processes on 127.0.0.1, 127.0.0.2 and 127.0.0.3 behind one round-robin client with
/// outlier detection and the standard resilience chain; replicas are killed (SIGKILL) under load.
@Suite("Replicas killed under load", .serialized, .timeLimit(.minutes(TestTime.minutes(2))))
struct ReplicaFailureTests {
    /// A failure-rate breaker (half of the last 200 calls, once 50 were seen), no retry: every call is one
    /// breaker sample; outlier detection ejects a replica after 5 failures in a row, for 1 s at first.
    static let config = """
        {"methodConfig": [{"name": [{"service": "echo.Echo"}],
          "circuitBreakerPolicy": {"consecutiveFailures": 0, "failureRateThreshold": 0.5,
            "slidingWindow": {"type": "COUNT", "size": 200}, "minimumCalls": 50, "openDuration": "30s"}}],
         "loadBalancingConfig": [{"outlier_detection": {"baseEjectionTime": "1s", "maxEjectionPercent": 34,
            "consecutiveFailures": 5, "childPolicy": [{"round_robin": {}}]}}]}
        """

    static func replica(_ host: String, port: Int = 0) async throws -> InteropPeer {
        try await InteropPeer.start([InteropPeer.binary("echo-server"), "--host", host, "--port", "\(port)", "--announce-port"])
    }

    /// Callers that call `Get` in a loop and keep the time and result of every call.
    final class Load: Sendable {
        struct Result { var at: ContinuousClock.Instant; var ok: Bool; var rejected: Bool }
        let results = TSanMutex<[Result]>([])  // ThreadSanitizer sees its locking, not Mutex's futex
        let running = Atomic(true)

        func failures(since: ContinuousClock.Instant) -> [Result] {
            results.withLock { $0.filter { !$0.ok && $0.at >= since } }
        }
        func count(since: ContinuousClock.Instant) -> Int {
            results.withLock { $0.filter { $0.at >= since }.count }
        }
    }

    static func run(_ echo: Echo_EchoClient, callers: Int, load: Load) -> Task<Void, Never> {
        Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<callers {
                    group.addTask {
                        while load.running.load(ordering: .relaxed) {
                            var result = Load.Result(at: .now, ok: true, rejected: false)
                            do {
                                _ = try await echo.get(request("x"), options: CallOptions(timeout: .seconds(2)))
                            } catch let error as RPCError {
                                result.ok = false
                                result.rejected = error.isCircuitBreakerRejection
                            } catch {
                                result.ok = false
                            }
                            result.at = .now
                            load.results.withLock { $0.append(result) }
                            if !result.ok { try? await Task.sleep(for: .milliseconds(5)) }
                        }
                    }
                }
            }
        }
    }

    @Test("one of three killed under 64 callers: at most the calls in flight fail, then none; the breaker stays CLOSED; restarted, it gets calls again; all killed: the breaker opens")
    func killOneThenAll() async throws {
        var replicas: [InteropPeer] = []
        for host in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] { replicas.append(try await Self.replica(host)) }
        let serviceConfig = try ServiceConfig(json: Self.config)
        let resilience = try ResilienceConfiguration(serviceConfig: serviceConfig, target: "echo")
        let target = "ipv4:" + zip(["127.0.0.1", "127.0.0.2", "127.0.0.3"], replicas).map { "\($0):\($1.port)" }.joined(separator: ",")
        let transport = try HTTP2ClientTransport(
            target: target, loadBalancing: try #require(serviceConfig.loadBalancing),
            configuration: .init(backoff: .init(initial: .milliseconds(100), maximum: .milliseconds(400))))
        let grpc = GRPCClient(transport: transport, resilience: resilience)
        let echo = Echo_EchoClient(wrapping: grpc)
        let breaker = { resilience.registry.existingBreaker(for: BreakerKey(target: "echo", service: "echo.Echo", method: "Get")) }
        let killed = "127.0.0.2:\(replicas[1].port)"
        let load = Load()
        let callers = Self.run(echo, callers: 64, load: load)
        func cleanup() async {
            load.running.store(false, ordering: .relaxed)
            await callers.value
            await grpc.close()
            for replica in replicas { await replica.kill() }
        }
        do {

        // Warm: every replica ready and serving.
        try await Task.sleep(for: .milliseconds(500))
        #expect(load.failures(since: .now - .seconds(10)).isEmpty)
        #expect(await transport.endpointSnapshots().allSatisfy { $0.connectivity == .ready && $0.totalCalls > 0 })

        let killedAt = ContinuousClock.now
        await replicas[1].kill()
        try await Task.sleep(for: .seconds(1))
        let failed = load.failures(since: killedAt)
        let lastFailure = failed.map(\.at).max()
        let untilNoFailure = lastFailure.map { killedAt.duration(to: $0) } ?? .zero
        let served = load.count(since: killedAt)
        print("LB-FIGURES one of three killed under 64 callers: \(failed.count) failed of \(served) in 1 s; last failure \(untilNoFailure) after the kill; breaker \(breaker()?.currentState.description ?? "none")")
        #expect(failed.count <= 64, "at most the calls in flight on the killed replica fail")
        #expect(untilNoFailure < .milliseconds(500))
        #expect(load.failures(since: killedAt + .milliseconds(500)).isEmpty, "then none")
        #expect(breaker()?.currentState == .closed)
        let down = await transport.endpointSnapshots().first { $0.endpoint.description == killed }
        #expect(down != nil && down?.connectivity != .ready)

        // Restarted on the same port: reconnected after its backoff, it takes calls again.
        replicas[1] = try await Self.replica("127.0.0.2", port: replicas[1].port)
        let callsBefore = down?.totalCalls ?? 0
        var back = false
        for _ in 0..<300 {
            let snapshot = await transport.endpointSnapshots().first { $0.endpoint.description == killed }
            if let snapshot, snapshot.connectivity == .ready, snapshot.totalCalls > callsBefore + 50 {
                back = true
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(back, "the restarted replica gets calls")
        #expect(breaker()?.currentState == .closed)

        // All three killed: every call fails, and the method breaker opens.
        let allKilledAt = ContinuousClock.now
        for replica in replicas { await replica.kill() }
        var opened = false
        for _ in 0..<300 {
            if breaker()?.currentState == .open {
                opened = true
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        print("LB-FIGURES all three killed: breaker \(breaker()?.currentState.description ?? "none") after \(allKilledAt.duration(to: .now))")
        #expect(opened, "all replicas down trips the method breaker")
        // The callers' next calls meet the open breaker (stopping them at once could leave none).
        func rejected() -> Int { load.results.withLock { $0.filter { $0.rejected && $0.at > allKilledAt }.count } }
        for _ in 0..<300 where rejected() == 0 { try await Task.sleep(for: .milliseconds(10)) }
        load.running.store(false, ordering: .relaxed)
        await callers.value
        #expect(rejected() > 0, "the open breaker rejects without the network")
        } catch {
            await cleanup()
            throw error
        }
        await cleanup()
    }
}
