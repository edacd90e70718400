import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterHealth
import BreakwaterResilience
import BreakwaterTestSupport
import EchoService
import Testing

/// Client-side health checking (gRFC A17) over three real servers on 127.0.0.1-3, each serving echo
/// and grpc.health.v1 (or, for one test, echo alone).
@Suite("Health checking over several echo servers", .serialized, .timeLimit(.minutes(TestTime.minutes(2))))
struct HealthCheckingTests {
    struct Replica {
        let server: GRPCServer
        let provider: EchoProvider
        let health: HealthService?
        let host: String
        let port: Int
    }

    static func start(withHealth: [Bool] = [true, true, true]) async throws -> [Replica] {
        var replicas: [Replica] = []
        for (i, host) in ["127.0.0.1", "127.0.0.2", "127.0.0.3"].enumerated() {
            let provider = EchoProvider()
            let health = withHealth[i] ? HealthService() : nil
            let services: [any RegistrableService] = health.map { [provider, $0] } ?? [provider]
            let server = GRPCServer(transport: HTTP2ServerTransport(host: host, port: 0), services: services)
            let port = try await server.start()
            replicas.append(Replica(server: server, provider: provider, health: health, host: host, port: port))
        }
        return replicas
    }

    static func transport(_ replicas: [Replica]) throws -> HTTP2ClientTransport {
        let config = try ServiceConfig(json: #"{"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": ""}}"#)
        let target = "ipv4:" + replicas.map { "\($0.host):\($0.port)" }.joined(separator: ",")
        return try HTTP2ClientTransport(target: target, loadBalancing: try #require(config.loadBalancing))
    }

    static func waitFor(_ transport: HTTP2ClientTransport, _ condition: ([EndpointSnapshot]) -> Bool) async -> Bool {
        for _ in 0..<1000 {
            if condition(await transport.endpointSnapshots()) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    static func calls(_ echo: Echo_EchoClient, _ count: Int) async throws {
        for _ in 0..<count { _ = try await echo.get(.with { $0.text = "x" }) }
    }

    @Test func aNotServingEndpointTakesNoCallsUntilItServesAgain() async throws {
        let replicas = try await Self.start()
        let transport = try Self.transport(replicas)
        let grpc = GRPCClient(transport: transport)
        let echo = Echo_EchoClient(wrapping: grpc)
        try await Self.calls(echo, 3)  // the first call waits for the first health answers
        #expect(await Self.waitFor(transport) { $0.count == 3 && $0.allSatisfy { $0.serving == true } })

        replicas[1].health?.setStatus(.notServing, forService: "")
        #expect(await Self.waitFor(transport) { $0[1].serving == false })
        let before = replicas.map(\.provider.totalCallCount)
        try await Self.calls(echo, 60)
        let during = zip(replicas, before).map { $0.provider.totalCallCount - $1 }
        #expect(during[1] == 0, "\(during)")
        #expect(during[0] + during[2] == 60)

        replicas[1].health?.setStatus(.serving, forService: "")
        #expect(await Self.waitFor(transport) { $0[1].serving == true })
        let again = replicas[1].provider.totalCallCount
        try await Self.calls(echo, 30)
        #expect(replicas[1].provider.totalCallCount - again >= 5, "it takes calls again")

        await grpc.close()
        for replica in replicas { await replica.server.shutdownGracefully(gracePeriod: .zero) }
    }

    @Test func aServerWithoutTheHealthServiceCountsAsHealthy() async throws {
        let replicas = try await Self.start(withHealth: [true, false, true])
        let transport = try Self.transport(replicas)
        let grpc = GRPCClient(transport: transport)
        let echo = Echo_EchoClient(wrapping: grpc)
        try await Self.calls(echo, 3)
        #expect(await Self.waitFor(transport) { $0.count == 3 && $0.allSatisfy { $0.serving == true } })
        let before = replicas[1].provider.totalCallCount
        try await Self.calls(echo, 30)
        #expect(replicas[1].provider.totalCallCount - before >= 5)

        await grpc.close()
        for replica in replicas { await replica.server.shutdownGracefully(gracePeriod: .zero) }
    }

    @Test func aServerShuttingDownIsTakenOutBeforeItsConnectionCloses() async throws {
        let replicas = try await Self.start()
        let transport = try Self.transport(replicas)
        let grpc = GRPCClient(transport: transport)
        let echo = Echo_EchoClient(wrapping: grpc)
        try await Self.calls(echo, 3)
        #expect(await Self.waitFor(transport) { $0.count == 3 && $0.allSatisfy { $0.serving == true } })
        // enterShutdown sets every service NOT_SERVING (gRPC's drain signal).
        replicas[2].health?.enterShutdown()
        #expect(await Self.waitFor(transport) { $0[2].serving == false && $0[2].connectivity == .ready })
        let before = replicas[2].provider.totalCallCount
        try await Self.calls(echo, 30)
        #expect(replicas[2].provider.totalCallCount == before)

        await grpc.close()
        for replica in replicas { await replica.server.shutdownGracefully(gracePeriod: .zero) }
    }
}
