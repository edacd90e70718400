import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterResilience
import EchoService

/// Figures of one or more rounds, keyed, in first-recorded order.
struct Figures {
    private(set) var keys: [String] = []
    private(set) var values: [String: [Double]] = [:]

    mutating func record(_ key: String, _ value: Double) {
        if values[key] == nil { keys.append(key) }
        values[key, default: []].append(value)
    }

    mutating func record(_ key: String, nanoseconds: Int64, as unit: Unit) {
        record(key, Double(nanoseconds) / unit.nanoseconds)
    }

    enum Unit {
        case ns, us, ms
        var nanoseconds: Double {
            switch self {
            case .ns: 1
            case .us: 1e3
            case .ms: 1e6
            }
        }
    }

    func median(_ key: String) -> Double? { values[key].map { EchoBench.median($0) } }

    /// One `key=value` line per figure (the median over rounds), then the per-round values.
    func printKeyValues() {
        for key in keys {
            let vs = values[key]!
            print("\(key)=\(Self.format(EchoBench.median(vs)))")
        }
        if keys.contains(where: { values[$0]!.count > 1 }) {
            for key in keys where values[key]!.count > 1 {
                print("# rounds \(key): " + values[key]!.map(Self.format).joined(separator: " "))
            }
        }
    }

    static func format(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        if abs(v) >= 100 { return String(Int64(v.rounded())) }
        let scaled = (v * 100).rounded() / 100
        return String(scaled)
    }
}

/// Where the latency and throughput figures are measured.
enum BenchTarget: Sendable {
    /// An echo server started in this process on 127.0.0.1:0.
    case ownServer
    /// An external echo server.
    case external(host: String, port: Int)
}

/// The settings of a run.
struct BenchSettings: Sendable {
    var target: BenchTarget = .ownServer
    var calls = 5_000
    var warmup = 500
    var duration: Duration = .seconds(1)
    var concurrency = 64
    var preferLoop = false
    var chainCallsInProcess = 20_000
    var chainCallsHTTP2 = 3_000
    var openCalls = 20_000
    var deadlineCalls = 12
    /// Also time each interceptor of the chain alone, and CPU per call.
    var chainBreakdown = false
    /// A folder with `ca.pem`, `server.pem` and `server.key` (scripts/make-dev-certs.sh): latency and
    /// throughput then run over TLS against our own server.
    var tlsDirectory: String?
}

/// The benchmarks. Each records its figures for one round into `figures`.
struct Benchmarks {
    var settings: BenchSettings
    let request = Echo_EchoRequest.with { $0.text = benchText }

    /// A client transport for the latency/throughput target, and the server when it is ours.
    private func openTarget() async throws -> (HTTP2ClientTransport, EchoServerFixture?) {
        switch settings.target {
        case .ownServer:
            if let dir = settings.tlsDirectory {
                let server = try await EchoServerFixture.http2(tls: TLSServerConfiguration(
                    certificateChain: .file(dir + "/server.pem"), privateKey: .file(dir + "/server.key")))
                var configuration = HTTP2ClientTransport.Configuration()
                configuration.tls = TLSClientConfiguration(trustRoots: .certificates(.file(dir + "/ca.pem")))
                return (HTTP2ClientTransport(host: "127.0.0.1", port: server.port!, configuration: configuration), server)
            }
            let server = try await EchoServerFixture.http2()
            return (HTTP2ClientTransport(host: "127.0.0.1", port: server.port!), server)
        case .external(let host, let port):
            return (HTTP2ClientTransport(host: host, port: port), nil)
        }
    }

    // MARK: 1. Unary round-trip latency

    func latency(into figures: inout Figures) async throws {
        let (transport, server) = try await openTarget()
        let client = GRPCClient(transport: transport)
        let echo = Echo_EchoClient(wrapping: client)
        let executor: (any TaskExecutor)? = settings.preferLoop ? transport.eventLoop : nil
        let calls = settings.calls, warmup = settings.warmup, request = self.request
        let (samples, errors, elapsed) = await withOptionalExecutor(executor) {
            for _ in 0..<warmup { _ = await CallCheck.get(echo, request) }
            var samples = Samples(capacity: calls)
            var errors = 0
            let clock = ContinuousClock()
            let start = clock.now
            for _ in 0..<calls {
                let t0 = clock.now
                let ok = await CallCheck.get(echo, request)
                samples.append(clock.now - t0)
                if !ok { errors += 1 }
            }
            return (samples, errors, clock.now - start)
        }
        let p = samples.percentiles([0.5, 0.9, 0.99, 1.0])
        let k = settings.preferLoop ? "latency_loop" : "latency"
        figures.record("\(k).calls", Double(calls))
        figures.record("\(k).p50_us", nanoseconds: p[0], as: .us)
        figures.record("\(k).p90_us", nanoseconds: p[1], as: .us)
        figures.record("\(k).p99_us", nanoseconds: p[2], as: .us)
        figures.record("\(k).max_us", nanoseconds: p[3], as: .us)
        figures.record("\(k).qps", Double(calls) / elapsed.seconds)
        figures.record("\(k).errors", Double(errors))
        await client.close()
        await server?.stop()
    }

    // MARK: 2. Throughput on one connection

    /// `concurrency` tasks each calling `Get` in a loop for `duration`.
    static func closedLoop(
        echo: Echo_EchoClient, request: Echo_EchoRequest, concurrency: Int, duration: Duration,
        executor: (any TaskExecutor)?
    ) async -> (calls: Int, errors: Int, samples: Samples, elapsed: Duration) {
        let clock = ContinuousClock()
        let start = clock.now
        let end = start + duration
        let results = await withTaskGroup(of: (Int, Samples).self) { group in
            for _ in 0..<concurrency {
                let worker: @Sendable () async -> (Int, Samples) = {
                    var samples = Samples(capacity: 4096)
                    var errors = 0
                    while true {
                        let t0 = clock.now
                        if t0 >= end { break }
                        let ok = await CallCheck.get(echo, request)
                        samples.append(clock.now - t0)
                        if !ok { errors += 1 }
                    }
                    return (errors, samples)
                }
                // A nil preference is not free: the runtime then looks for one at every await.
                if let executor {
                    group.addTask(executorPreference: executor, operation: worker)
                } else {
                    group.addTask(operation: worker)
                }
            }
            var all: [(Int, Samples)] = []
            for await result in group { all.append(result) }
            return all
        }
        let elapsed = clock.now - start
        var samples = Samples()
        var errors = 0
        for (e, s) in results {
            errors += e
            samples.append(contentsOf: s)
        }
        return (samples.count, errors, samples, elapsed)
    }

    func throughput(into figures: inout Figures) async throws {
        let (transport, server) = try await openTarget()
        let client = GRPCClient(transport: transport)
        let echo = Echo_EchoClient(wrapping: client)
        let executor: (any TaskExecutor)? = settings.preferLoop ? transport.eventLoop : nil
        // Warm up the connection with the concurrency of the run.
        _ = await Self.closedLoop(
            echo: echo, request: request, concurrency: settings.concurrency, duration: .milliseconds(200),
            executor: executor
        )
        var errors = 0
        for concurrency in [settings.concurrency, 1] {
            let cpu0 = processCPUSeconds()
            let r = await Self.closedLoop(
                echo: echo, request: request, concurrency: concurrency, duration: settings.duration,
                executor: executor
            )
            let cpu = processCPUSeconds() - cpu0
            let p = r.samples.percentiles([0.5, 0.99])
            let prefix = (settings.preferLoop ? "throughput_loop" : "throughput") + ".c\(concurrency)"
            figures.record("\(prefix).qps", Double(r.calls) / r.elapsed.seconds)
            figures.record("\(prefix).p50_us", nanoseconds: p[0], as: .us)
            figures.record("\(prefix).p99_us", nanoseconds: p[1], as: .us)
            // CPU of the whole process (client and, unless --target, server) per call.
            figures.record("\(prefix).cpu_us_per_call", r.calls > 0 ? cpu / Double(r.calls) * 1e6 : 0)
            errors += r.errors
        }
        figures.record(settings.preferLoop ? "throughput_loop.errors" : "throughput.errors", Double(errors))
        await client.close()
        await server?.stop()
    }

    // MARK: 3. Resilience chain overhead

    /// ns per call of a bare client, a bare client with the same deadline as the chain sets, and a client
    /// with the standard chain, over one transport; batches alternate so drift hits all three alike.
    func chain(into figures: inout Figures) async throws {
        var errors = 0
        for kind in ["inproc", "http2"] {
            let server = kind == "inproc" ? try await EchoServerFixture.inProcess() : try await EchoServerFixture.http2()
            let transport = server.makeTransport()
            let bare = Echo_EchoClient(wrapping: GRPCClient(transport: transport))
            let resilience = try standardResilience(target: server.target)
            let chained = Echo_EchoClient(wrapping: GRPCClient(transport: transport, resilience: resilience))
            let deadline = CallOptions(timeout: .seconds(30))
            let calls = kind == "inproc" ? settings.chainCallsInProcess : settings.chainCallsHTTP2
            let batches = 10
            let perBatch = max(1, calls / batches)
            let request = self.request
            var variants: [(String, Echo_EchoClient, CallOptions)] = [
                ("bare", bare, .defaults), ("bare_deadline", bare, deadline), ("chained", chained, .defaults),
            ]
            if settings.chainBreakdown {
                // Each interceptor of the chain alone (with the chain's deadline, so the transport's deadline
                // work is the same as in bare_deadline), to see which one the added cost comes from.
                let policies = standardPolicies()
                let single: [(String, any ClientInterceptor)] = [
                    ("timeout_only", TimeoutInterceptor(policies: policies)),
                    ("retry_only", RetryInterceptor(policies: policies, throttle: RetryThrottle(
                        policy: RetryThrottlingPolicy(maxTokens: 10, tokenRatio: 0.1)))),
                    ("breaker_only", CircuitBreakerInterceptor(policies: policies, target: server.target)),
                ]
                for (name, interceptor) in single {
                    let client = GRPCClient(transport: transport, interceptors: [.apply(interceptor, to: .all)])
                    variants.append((name, Echo_EchoClient(wrapping: client), deadline))
                }
            }
            var cpuPerCall: [String: Double] = [:]
            // Warm-up: every variant.
            for (_, echo, options) in variants {
                for _ in 0..<max(200, perBatch / 4) { _ = await CallCheck.get(echo, request, options: options) }
            }
            var perCall: [String: [Double]] = [:]
            let clock = ContinuousClock()
            for _ in 0..<batches {
                for (name, echo, options) in variants {
                    let cpu0 = processCPUSeconds()
                    let t0 = clock.now
                    for _ in 0..<perBatch {
                        if await !CallCheck.get(echo, request, options: options) { errors += 1 }
                    }
                    perCall[name, default: []].append(Double((clock.now - t0).nanoseconds) / Double(perBatch))
                    cpuPerCall[name, default: 0] += (processCPUSeconds() - cpu0) * 1e9 / Double(perBatch * batches)
                }
            }
            let bareNs = EchoBench.median(perCall["bare"]!)
            let bareDeadlineNs = EchoBench.median(perCall["bare_deadline"]!)
            let chainedNs = EchoBench.median(perCall["chained"]!)
            figures.record("chain.\(kind).bare_ns", bareNs)
            figures.record("chain.\(kind).bare_deadline_ns", bareDeadlineNs)
            figures.record("chain.\(kind).chained_ns", chainedNs)
            figures.record("chain.\(kind).added_ns", chainedNs - bareNs)
            figures.record("chain.\(kind).added_over_deadline_ns", chainedNs - bareDeadlineNs)
            figures.record("chain.\(kind).ratio", chainedNs / bareNs)
            if settings.chainBreakdown {
                for (name, _, _) in variants.dropFirst(3) {
                    figures.record("chain.\(kind).\(name)_ns", EchoBench.median(perCall[name]!))
                }
                // Process CPU (all threads) per call: wall time well above CPU time means waiting (thread
                // hand-offs), not work.
                for (name, _, _) in variants {
                    figures.record("chain.\(kind).\(name)_cpu_ns", cpuPerCall[name]!)
                }
            }
            if let snapshot = resilience.breakerSnapshots().first, snapshot.state != .closed { errors += 1 }
            await transport.close()
            await server.stop()
        }
        figures.record("chain.errors", Double(errors))
    }

    // MARK: 4. OPEN rejection

    /// Trips the breaker with a server whose every call fails, then times rejected calls through the full
    /// client and chain; the server must see no further call and the process no read/write syscall.
    func openRejection(into figures: inout Figures) async throws {
        var errors = 0
        for kind in ["inproc", "http2"] {
            let faults = EchoProvider.Faults(failRate: 1)
            let server = kind == "inproc"
                ? try await EchoServerFixture.inProcess(faults: faults) : try await EchoServerFixture.http2(faults: faults)
            let transport = server.makeTransport()
            let resilience = try standardResilience(target: server.target)
            let echo = Echo_EchoClient(wrapping: GRPCClient(transport: transport, resilience: resilience))
            let key = BreakerKey(target: server.target, method: Echo_Echo.Method.Get.descriptor, scope: .method)
            // Trip: each failed attempt is one breaker sample (retry runs up to 3 attempts a call).
            var tripCalls = 0
            while resilience.registry.existingBreaker(for: key)?.currentState != .open, tripCalls < 100 {
                _ = await CallCheck.get(echo, request)
                tripCalls += 1
            }
            guard resilience.registry.existingBreaker(for: key)?.currentState == .open else {
                print("# open.\(kind): the breaker did not open after \(tripCalls) failing calls")
                errors += 1
                await transport.close()
                await server.stop()
                continue
            }
            // Warm the rejection path, then let anything in flight settle.
            for _ in 0..<1_000 { _ = try? await echo.get(request) }
            try await Task.sleep(for: .milliseconds(20))
            let serverCalls0 = server.provider.totalCallCount
            let baseline0 = processSyscallCounts()
            let baseline1 = processSyscallCounts()
            let sys0 = processSyscallCounts()
            let n = settings.openCalls
            var samples = Samples(capacity: n)
            let clock = ContinuousClock()
            let start = clock.now
            for _ in 0..<n {
                let t0 = clock.now
                do {
                    _ = try await echo.get(request)
                    errors += 1  // a rejected call must not answer
                } catch let error as RPCError {
                    if error.code != .unavailable || !error.isCircuitBreakerRejection { errors += 1 }
                } catch {
                    errors += 1
                }
                samples.append(clock.now - t0)
            }
            let elapsed = clock.now - start
            let sys1 = processSyscallCounts()
            let serverCalls = server.provider.totalCallCount - serverCalls0
            let p = samples.percentiles([0.5, 0.99, 1.0])
            figures.record("open.\(kind).ns_per_call", Double(elapsed.nanoseconds) / Double(n))
            figures.record("open.\(kind).p50_ns", nanoseconds: p[0], as: .ns)
            figures.record("open.\(kind).p99_ns", nanoseconds: p[1], as: .ns)
            figures.record("open.\(kind).server_calls", Double(serverCalls))
            if serverCalls != 0 { errors += 1 }
            if let b0 = baseline0, let b1 = baseline1, let s0 = sys0, let s1 = sys1 {
                // Reading /proc/self/io is itself one read-like syscall (or a few): subtract that.
                let own = (b1.reads - b0.reads, b1.writes - b0.writes)
                let reads = (s1.reads - s0.reads) - own.0
                let writes = (s1.writes - s0.writes) - own.1
                figures.record("open.\(kind).rw_syscalls", Double(max(0, reads) + max(0, writes)))
            }
            await transport.close()
            await server.stop()
        }
        figures.record("open.errors", Double(errors))
    }

    // MARK: 5. Deadline precision

    /// Calls with a 50 ms timeout against a handler that never answers: how long after the deadline each
    /// call ended, with the timeout in CallOptions (bare) and from the chain's Timeout policy (chained).
    func deadline(into figures: inout Figures) async throws {
        let server = try await EchoServerFixture.http2(faults: .init(hang: true))
        let transport = server.makeTransport()
        let timeout = Duration.milliseconds(50)
        let bare = Echo_EchoClient(wrapping: GRPCClient(transport: transport))
        // DEADLINE_EXCEEDED is a breaker failure: with the classic 5-failure rule the breaker would open
        // after 5 calls and reject the rest at once. A high threshold keeps the breaker in the chain, CLOSED.
        let chained = Echo_EchoClient(wrapping: GRPCClient(
            transport: transport,
            resilience: try standardResilience(
                target: server.target, timeout: timeout,
                breaker: CircuitBreakerPolicy(consecutiveFailures: 1_000_000)
            )
        ))
        var late: [String: Samples] = [:]
        var errors = 0
        let clock = ContinuousClock()
        let request = self.request
        let variants: [(String, Echo_EchoClient, CallOptions)] = [
            ("bare", bare, CallOptions(timeout: timeout)), ("chained", chained, .defaults),
        ]
        // One warm-up call each (connection set-up is not part of the figure).
        for (_, echo, options) in variants { _ = try? await echo.get(request, options: options) }
        for _ in 0..<settings.deadlineCalls {
            for (name, echo, options) in variants {
                let start = clock.now
                var code: Status.Code = .ok
                do {
                    _ = try await echo.get(request, options: options)
                } catch let error as RPCError {
                    code = error.code
                } catch {
                    code = .unknown
                }
                let ended = clock.now
                if code != .deadlineExceeded { errors += 1 }
                late[name, default: Samples()].append(ended - (start + timeout))
            }
        }
        let total = 2 * (settings.deadlineCalls + 1)
        let waitUntil = clock.now + .seconds(1)
        while server.provider.cancellationCount < total, clock.now < waitUntil {
            try await Task.sleep(for: .milliseconds(5))
        }
        for (name, _, _) in variants {
            let p = late[name]!.percentiles([0.5, 0.99, 1.0])
            figures.record("deadline.\(name).late_p50_ms", nanoseconds: p[0], as: .ms)
            figures.record("deadline.\(name).late_p99_ms", nanoseconds: p[1], as: .ms)
            figures.record("deadline.\(name).late_max_ms", nanoseconds: p[2], as: .ms)
        }
        figures.record("deadline.server_cancelled", Double(server.provider.cancellationCount))
        figures.record("deadline.calls", Double(total))
        figures.record("deadline.errors", Double(errors))
        await transport.close()
        await server.stop()
    }
}
