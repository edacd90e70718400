import EchoService
import BenchSupport
import BreakwaterCore
import BreakwaterHTTP2
import CBenchShims
import Synchronization

/// Figures printed as `key=value` lines, in the order recorded.
struct Report {
    private(set) var lines: [String] = []

    mutating func add(_ key: String, _ value: String) { lines.append("\(key)=\(value)") }
    mutating func add(_ key: String, _ value: Int) { add(key, String(value)) }
    mutating func add(_ key: String, _ value: Double, decimals: Int = 1) {
        add(key, cFormat("%.*f", Int32(decimals), value))
    }
    mutating func add(_ key: String, _ value: Bool) { add(key, value ? "yes" : "no") }

    func print() { for line in lines { Swift.print(line) } }
}

/// Resident set size and C-heap bytes in use of this process, now.
struct MemorySample {
    let rssKiB: Int
    let heapBytes: Int

    static func now() -> MemorySample {
        MemorySample(rssKiB: ProcessStats.currentRSSKiB(), heapBytes: Int(bench_heap_in_use()))
    }
}

/// Holds the request side of bidirectional streams open until `open()`.
final class Gate: Sendable {
    private let state = Mutex<(isOpen: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s in
                if s.isOpen { return true }
                s.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { s in
            s.isOpen = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// A client connection to `port` and its stubs.
private func connect(port: Int) -> (HTTP2ClientTransport, Echo_EchoClient) {
    let transport = HTTP2ClientTransport(host: "127.0.0.1", port: port)
    return (transport, Echo_EchoClient(wrapping: GRPCClient(transport: transport)))
}

/// Runs `body` for 0..<count with at most `width` running at once.
private func forEachConcurrently(
    _ count: Int, width: Int, _ body: @escaping @Sendable (Int) async -> Void
) async {
    await withTaskGroup(of: Void.self) { group in
        var next = 0
        while next < min(width, count) {
            let i = next
            group.addTask { await body(i) }
            next += 1
        }
        while await group.next() != nil, next < count {
            let i = next
            group.addTask { await body(i) }
            next += 1
        }
    }
}

enum Measurements {
    // MARK: (a) an idle client connection

    /// RSS and heap growth of this process per idle HTTP2ClientTransport connection: `connections`
    /// transports to a server in another process, each connected by one `Get`, then left idle.
    static func idleClientConnections(_ connections: Int, targetKiB: Double, into report: inout Report) async throws {
        let server = try ServerProcess()
        defer { server.stop() }
        // Warm up: the loops, the code paths and the allocator, on one connection that stays open.
        let (warmTransport, warmEcho) = connect(port: server.port)
        for _ in 0..<100 { _ = try? await warmEcho.get(.with { $0.text = benchWord }) }
        try await Task.sleep(for: .milliseconds(100))
        let before = MemorySample.now()

        var transports: [HTTP2ClientTransport] = []
        var errors = 0
        for _ in 0..<connections {
            let (transport, echo) = connect(port: server.port)
            transports.append(transport)
            let response = try? await echo.get(.with { $0.text = benchWord })
            if response?.text != benchWord { errors += 1 }
        }
        try await Task.sleep(for: .milliseconds(200))
        let after = MemorySample.now()

        let rssPerConnection = Double(after.rssKiB - before.rssKiB) / Double(connections)
        let heapPerConnection = Double(after.heapBytes - before.heapBytes) / 1024 / Double(connections)
        report.add("idle_client.connections", connections)
        report.add("idle_client.errors", errors)
        report.add("idle_client.rss_before_kb", before.rssKiB)
        report.add("idle_client.rss_after_kb", after.rssKiB)
        report.add("idle_client.rss_kib_per_connection", rssPerConnection)
        report.add("idle_client.heap_kib_per_connection", heapPerConnection)
        report.add("idle_client.target_kib_per_connection", targetKiB, decimals: 0)
        report.add("idle_client.within_target", errors == 0 && rssPerConnection <= targetKiB)

        for transport in transports { await transport.close() }
        await warmTransport.close()
    }

    // MARK: (d) many endpoints behind one target

    /// Memory per idle subchannel of a round_robin target of `endpoints` endpoints (127.0.0.1 ... .N,
    /// all one server in another process listening on 0.0.0.0), and sequential calls per second on it
    /// against a target of three: the pick is O(1) when the two rates are close.
    static func subchannels(_ endpoints: Int, calls: Int, targetKiB: Double, into report: inout Report) async throws {
        precondition((3...250).contains(endpoints), "--endpoints must be in 3...250")
        let server = try ServerProcess(anyAddress: true)
        defer { server.stop() }
        func target(_ count: Int) -> String {
            "ipv4:" + (1...count).map { "127.0.0.\($0):\(server.port)" }.joined(separator: ",")
        }
        func ready(_ transport: HTTP2ClientTransport, _ count: Int) async -> Bool {
            for _ in 0..<2000 {
                let snapshots = await transport.endpointSnapshots()
                if snapshots.count == count && snapshots.allSatisfy({ $0.connectivity == .ready }) { return true }
                try? await Task.sleep(for: .milliseconds(5))
            }
            return false
        }
        func rate(_ echo: Echo_EchoClient) async -> Double {
            let start = ContinuousClock.now
            for _ in 0..<calls { _ = try? await echo.get(.with { $0.text = benchWord }) }
            let seconds = Double(start.duration(to: .now).components.attoseconds) / 1e18 + Double(start.duration(to: .now).components.seconds)
            return Double(calls) / seconds
        }
        // Warm up the loops, code paths and allocator on the three-endpoint target, which stays.
        let small = try HTTP2ClientTransport(target: target(3), loadBalancing: .roundRobin)
        let smallEcho = Echo_EchoClient(wrapping: GRPCClient(transport: small))
        for _ in 0..<1000 { _ = try? await smallEcho.get(.with { $0.text = benchWord }) }
        let smallReady = await ready(small, 3)
        try await Task.sleep(for: .milliseconds(100))
        let before = MemorySample.now()

        let large = try HTTP2ClientTransport(target: target(endpoints), loadBalancing: .roundRobin)
        let largeEcho = Echo_EchoClient(wrapping: GRPCClient(transport: large))
        _ = try? await largeEcho.get(.with { $0.text = benchWord })
        let largeReady = await ready(large, endpoints)
        try await Task.sleep(for: .milliseconds(200))
        let after = MemorySample.now()

        let smallRate = await rate(smallEcho)
        let largeRate = await rate(largeEcho)
        let rssPer = Double(after.rssKiB - before.rssKiB) / Double(endpoints)
        let heapPer = Double(after.heapBytes - before.heapBytes) / 1024 / Double(endpoints)
        report.add("subchannels.endpoints", endpoints)
        report.add("subchannels.all_ready", smallReady && largeReady)
        report.add("subchannels.rss_kib_per_subchannel", rssPer)
        report.add("subchannels.heap_kib_per_subchannel", heapPer)
        report.add("subchannels.target_kib_per_subchannel", targetKiB, decimals: 0)
        report.add("subchannels.calls_per_second_3_endpoints", smallRate, decimals: 0)
        report.add("subchannels.calls_per_second_\(endpoints)_endpoints", largeRate, decimals: 0)
        report.add("subchannels.rate_ratio", largeRate / smallRate, decimals: 2)
        report.add("subchannels.within_target", smallReady && largeReady && rssPer <= targetKiB && largeRate / smallRate >= 0.8)
        await large.close()
        await small.close()
    }

    // MARK: (b) a server holding idle connections with open streams

    /// The server process's memory while this process holds `connections` connections to it, each with
    /// `streamsPerConnection` open `Update` streams (headers exchanged, no message, not half-closed).
    static func serverHoldingStreams(
        connections: Int, streamsPerConnection: Int, targetMiB: Double, into report: inout Report
    ) async throws {
        let fdLimit = ProcessStats.raiseOpenFileLimit(to: connections + 256)
        let server = try ServerProcess()
        defer { server.stop() }
        try await Task.sleep(for: .milliseconds(200))
        let idle = server.memory
        let clientBefore = MemorySample.now()

        let gate = Gate()
        let clients = (0..<connections).map { _ in connect(port: server.port) }
        let held = Mutex<[ResponseStream<Echo_EchoResponse>]>([])
        let failures = Atomic<Int>(0)
        let clock = ContinuousClock()
        let start = clock.now
        await forEachConcurrently(connections, width: 64) { c in
            let echo = clients[c].1
            for _ in 0..<streamsPerConnection {
                do {
                    let responses = try await echo.update { _ in await gate.wait() }
                    // The call returns before the server answered: the stream is open once its headers
                    // (which Update sends at once) arrived.
                    _ = try await responses.metadata
                    held.withLock { $0.append(responses) }
                } catch {
                    failures.wrappingAdd(1, ordering: .relaxed)
                }
            }
        }
        let openSeconds = (clock.now - start).secondsValue
        try await Task.sleep(for: .milliseconds(500))
        let holding = server.memory
        let clientHolding = MemorySample.now()
        let open = held.withLock { $0.count }

        report.add("server_streams.fd_soft_limit", fdLimit)
        report.add("server_streams.connections", connections)
        report.add("server_streams.streams_per_connection", streamsPerConnection)
        report.add("server_streams.streams_open", open)
        report.add("server_streams.errors", failures.load(ordering: .relaxed))
        report.add("server_streams.open_s", openSeconds, decimals: 2)
        report.add("server_streams.server_rss_idle_kb", idle.rss)
        report.add("server_streams.server_rss_holding_kb", holding.rss)
        report.add("server_streams.server_hwm_kb", holding.hwm)
        report.add("server_streams.server_rss_holding_mib", Double(holding.rss) / 1024)
        report.add("server_streams.server_kib_per_connection_with_streams",
                   Double(holding.rss - idle.rss) / Double(max(1, connections)))
        report.add("server_streams.client_rss_holding_kb", clientHolding.rssKiB)
        report.add("server_streams.client_kib_per_connection_with_streams",
                   Double(clientHolding.rssKiB - clientBefore.rssKiB) / Double(max(1, connections)))
        report.add("server_streams.target_mib", targetMiB, decimals: 0)
        report.add("server_streams.within_target",
                   open == connections * streamsPerConnection && Double(holding.hwm) / 1024 <= targetMiB)

        // Let every stream end normally: half-close, the server's handler returns, OK trailers.
        gate.open()
        let streams = held.withLock { $0 }
        let badEnds = Atomic<Int>(0)
        await forEachConcurrently(streams.count, width: 256) { i in
            do {
                for try await _ in streams[i] {}
            } catch {
                badEnds.wrappingAdd(1, ordering: .relaxed)
            }
        }
        report.add("server_streams.bad_ends", badEnds.load(ordering: .relaxed))
        for (transport, _) in clients { await transport.close() }
    }

    // MARK: (c) RSS over many sequential calls

    /// RSS of this process (client and an in-process HTTP/2 server) over `calls` sequential unary calls,
    /// sampled every `sampleEvery` calls after `warmupCalls`; the drift is the largest distance of a
    /// sample from the first, in percent of the first.
    static func flatRSS(
        calls: Int, warmupCalls: Int, sampleEvery: Int, targetPercent: Double, into report: inout Report
    ) async throws {
        let server = GRPCServer(
            transport: HTTP2ServerTransport(host: "127.0.0.1", port: 0), services: [EchoProvider()])
        let port = try await server.start()
        let (transport, echo) = connect(port: port)
        let request = Echo_EchoRequest.with { $0.text = benchWord }
        var errors = 0
        for _ in 0..<warmupCalls {
            if (try? await echo.get(request))?.text != benchWord { errors += 1 }
        }
        var samples = [MemorySample.now()]
        let clock = ContinuousClock()
        let start = clock.now
        for i in 1...calls {
            if (try? await echo.get(request))?.text != benchWord { errors += 1 }
            if i % sampleEvery == 0 || i == calls { samples.append(.now()) }
        }
        let seconds = (clock.now - start).secondsValue
        let base = Double(max(1, samples[0].rssKiB))
        let drift = samples.map { abs(Double($0.rssKiB) - base) / base * 100 }.max() ?? 0
        report.add("flat_rss.calls", calls)
        report.add("flat_rss.warmup_calls", warmupCalls)
        report.add("flat_rss.sample_every", sampleEvery)
        report.add("flat_rss.errors", errors)
        report.add("flat_rss.seconds", seconds, decimals: 1)
        report.add("flat_rss.rss_samples_kb", samples.map { String($0.rssKiB) }.joined(separator: ","))
        report.add("flat_rss.heap_samples_kb", samples.map { String($0.heapBytes / 1024) }.joined(separator: ","))
        report.add("flat_rss.max_drift_pct", drift, decimals: 2)
        report.add("flat_rss.target_pct", targetPercent, decimals: 0)
        report.add("flat_rss.within_target", errors == 0 && drift <= targetPercent)
        await transport.close()
        await server.shutdownGracefully(gracePeriod: .milliseconds(200))
    }
}

extension Duration {
    var secondsValue: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}
