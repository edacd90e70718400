import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterResilience
import BreakwaterTestSupport
import EchoService
import Foundation
import MetricsTestKit
import Synchronization
import Testing

/// Several real echo servers on loopback (127.0.0.1, 127.0.0.2, 127.0.0.3 are all this machine) behind
/// one load-balanced client transport.
@Suite("Load balancing over several echo servers", .serialized, .timeLimit(.minutes(TestTime.minutes(2))))
struct LoadBalancingOverHTTP2Tests {
    static let hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]

    static func startReplicas(_ providers: [EchoProvider]? = nil) async throws -> [LiveEchoServer] {
        var servers: [LiveEchoServer] = []
        for (i, host) in hosts.enumerated() {
            servers.append(try await LiveEchoServer.start(provider: providers?[i] ?? EchoProvider(), host: host))
        }
        return servers
    }

    static func target(_ servers: [LiveEchoServer]) -> String {
        "ipv4:" + zip(hosts, servers).map { "\($0):\($1.port)" }.joined(separator: ",")
    }

    /// Polls the transport's endpoints until `condition` holds for them (at most 10 s).
    static func waitFor(
        _ transport: HTTP2ClientTransport, _ condition: ([EndpointSnapshot]) -> Bool
    ) async -> Bool {
        for _ in 0..<1000 {
            if condition(await transport.endpointSnapshots()) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    static let fastReconnect = HTTP2ClientTransport.Configuration(
        backoff: .init(initial: .milliseconds(100), multiplier: 1.6, maximum: .milliseconds(500), jitter: 0.2))

    @Test("round_robin from the service config spreads calls evenly over three servers")
    func roundRobinSpreadsEvenly() async throws {
        let servers = try await Self.startReplicas()
        let config = try ServiceConfig(json: #"{"loadBalancingConfig": [{"xds_wrr": {}}, {"round_robin": {}}]}"#)
        let lb = try #require(config.loadBalancing)
        #expect(lb.policy == .roundRobin, "an unknown policy is skipped, the next one is used")
        let transport = try HTTP2ClientTransport(target: Self.target(servers), loadBalancing: lb)
        let grpc = GRPCClient(transport: transport)
        let echo = Echo_EchoClient(wrapping: grpc)
        // Round robin connects every endpoint; calls go to the ready ones.
        _ = try await echo.get(request("warm"))
        #expect(await Self.waitFor(transport) { $0.count == 3 && $0.allSatisfy { $0.connectivity == .ready } })
        let before = servers.map(\.provider.totalCallCount)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask { for _ in 0..<75 { _ = try await echo.get(request("x")) } }
            }
            try await group.waitForAll()
        }
        let counts = zip(servers, before).map { $0.provider.totalCallCount - $1 }
        #expect(counts.reduce(0, +) == 600)
        for count in counts { #expect(abs(count - 200) <= 20, "\(counts)") }
        await grpc.close()
        for server in servers { await server.stop() }
    }

    @Test("pick_first sends every call to the first endpoint, and to the next when the first goes away")
    func pickFirstFailsOver() async throws {
        let servers = try await Self.startReplicas()
        let transport = try HTTP2ClientTransport(target: Self.target(servers), configuration: Self.fastReconnect)
        let grpc = GRPCClient(transport: transport)
        let echo = Echo_EchoClient(wrapping: grpc)
        for _ in 0..<20 { _ = try await echo.get(request("x")) }
        #expect(servers.map(\.provider.totalCallCount) == [20, 0, 0])
        await servers[0].stop()
        #expect(await Self.waitFor(transport) { $0.first?.connectivity != .ready })
        for _ in 0..<20 { _ = try await echo.get(request("x")) }
        #expect(servers[1].provider.totalCallCount == 20)
        #expect(servers[2].provider.totalCallCount == 0)
        await grpc.close()
        for server in servers.dropFirst() { await server.stop() }
    }

    @Test("least_request sends fewer calls to a slow server")
    func leastRequestAvoidsTheSlowServer() async throws {
        let slow = EchoProvider(faults: .init(delay: .milliseconds(50)))
        let servers = try await Self.startReplicas([EchoProvider(), slow, EchoProvider()])
        let transport = try HTTP2ClientTransport(target: Self.target(servers), loadBalancing: .leastRequest)
        let grpc = GRPCClient(transport: transport)
        let echo = Echo_EchoClient(wrapping: grpc)
        _ = try await echo.get(request("warm"))
        #expect(await Self.waitFor(transport) { $0.allSatisfy { $0.connectivity == .ready } })
        let before = servers.map(\.provider.totalCallCount)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<16 {
                group.addTask { for _ in 0..<20 { _ = try await echo.get(request("x")) } }
            }
            try await group.waitForAll()
        }
        let counts = zip(servers, before).map { $0.provider.totalCallCount - $1 }
        #expect(counts.reduce(0, +) == 320)
        #expect(counts[1] * 2 < min(counts[0], counts[2]), "the slow one got \(counts); round robin would give it a third")
        await grpc.close()
        for server in servers { await server.stop() }
    }

    @Test("a failing replica is ejected (events say so), gets no calls meanwhile, and returns after its ejection time")
    func ejectionAndReturn() async throws {
        // The second replica fails its first 5 calls with UNAVAILABLE.
        let failing = EchoProvider(faults: .init(failFirst: 5))
        let servers = try await Self.startReplicas([EchoProvider(), failing, EchoProvider()])
        let detection = OutlierDetectionPolicy(
            interval: .seconds(10), baseEjectionTime: .milliseconds(600), maxEjectionPercent: 34, consecutiveFailures: 5)
        let log = CapturedLog()
        let metrics = TestMetrics()
        var configuration = HTTP2ClientTransport.Configuration()
        configuration.logger = log.logger()
        configuration.metricsFactory = metrics
        let transport = try HTTP2ClientTransport(
            target: Self.target(servers), loadBalancing: LoadBalancingConfig(policy: .roundRobin, outlierDetection: detection),
            configuration: configuration)
        let events = transport.endpointEvents()
        let grpc = GRPCClient(transport: transport)
        let echo = Echo_EchoClient(wrapping: grpc)
        _ = try? await echo.get(request("warm"))
        #expect(await Self.waitFor(transport) { $0.allSatisfy { $0.connectivity == .ready } })
        var failures = 0
        for _ in 0..<30 {
            do { _ = try await echo.get(request("x")) } catch { failures += 1 }
        }
        #expect(failures <= 5)
        let snapshot = await transport.endpointSnapshots()
        let ejected = try #require(snapshot.first { $0.endpoint.description.hasPrefix("127.0.0.2:") })
        #expect(ejected.ejectedUntil != nil, "\(snapshot)")
        let callsWhileEjected = failing.totalCallCount
        for _ in 0..<20 { _ = try await echo.get(request("x")) }
        #expect(failing.totalCallCount == callsWhileEjected, "an ejected endpoint takes no calls")
        // Its time is up after 600 ms: it returns and takes calls again (they succeed now).
        #expect(await Self.waitFor(transport) { $0.allSatisfy { $0.ejectedUntil == nil } })
        for _ in 0..<30 { _ = try await echo.get(request("x")) }
        #expect(failing.totalCallCount >= callsWhileEjected + 9)
        await grpc.close()
        var kinds: [String] = []
        for await event in events {
            switch event.kind {
            case .ejected: kinds.append("ejected \(event.endpoint)")
            case .returned: kinds.append("returned \(event.endpoint)")
            default: break
            }
        }
        let second = "127.0.0.2:\(servers[1].port)"
        #expect(kinds == ["ejected \(second)", "returned \(second)"])
        // Logged and counted.
        let lines = log.recorded.filter { $0.message == "endpoint ejected" || $0.message == "endpoint returned" }
        #expect(lines.map(\.message) == ["endpoint ejected", "endpoint returned"])
        #expect(lines.first?.metadata["endpoint"] == second)
        #expect(lines.first?.metadata["reason"]?.contains("5") == true, "\(lines)")
        let dimensions = [("target", Self.target(servers)), ("endpoint", second)]
        #expect(try metrics.expectCounter("breakwater.client.endpoint.ejections", dimensions).totalValue == 1)
        #expect(try metrics.expectCounter("breakwater.client.endpoint.returns", dimensions).totalValue == 1)
        for server in servers { await server.stop() }
    }

    @Test("dns:///localhost reaches a server on 127.0.0.1 (::1 has none and is skipped)")
    func dnsLocalhost() async throws {
        let server = try await LiveEchoServer.start(host: "127.0.0.1")
        let transport = try HTTP2ClientTransport(target: "dns:///localhost:\(server.port)", loadBalancing: .roundRobin)
        let grpc = GRPCClient(transport: transport)
        let echo = Echo_EchoClient(wrapping: grpc)
        for _ in 0..<10 { #expect(try await echo.get(request("dns")).text == "dns") }
        let endpoints = await transport.endpointSnapshots().map(\.endpoint.description)
        #expect(endpoints.contains("127.0.0.1:\(server.port)"))
        #expect(server.provider.totalCallCount == 10)
        await grpc.close()
        await server.stop()
    }

    @Test("a server on a Unix domain socket serves every call kind", arguments: [false, true])
    func unixSocket(abstract: Bool) async throws {
        let name = "breakwater-lb-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let path = abstract ? name : FileManager.default.temporaryDirectory.appendingPathComponent(name + ".sock").path
        let provider = EchoProvider()
        let server = GRPCServer(transport: HTTP2ServerTransport(unixPath: path, abstract: abstract), services: [provider])
        #expect(try await server.start() == 0)
        if !abstract { #expect(FileManager.default.fileExists(atPath: path)) }
        let grpc = GRPCClient(transport: try HTTP2ClientTransport(target: (abstract ? "unix-abstract:" : "unix:") + path))
        let echo = Echo_EchoClient(wrapping: grpc)
        do {
            #expect(try await echo.get(request("unix")).text == "unix")
            #expect(try await expandTexts(echo, "a b c") == ["a", "b", "c"])
            let collected = try await echo.collect { writer in
                for word in ["x", "y"] { try await writer.write(request(word)) }
            }
            #expect(collected.text == "x y")
            #expect(try await updateTexts(echo, ["p", "q"]) == ["p", "q"])
        } catch {
            Issue.record("over \(path): \(error)")
        }
        await grpc.close()
        await server.shutdownGracefully(gracePeriod: .seconds(2))
        if !abstract { #expect(!FileManager.default.fileExists(atPath: path), "the socket file is removed") }
    }
}
