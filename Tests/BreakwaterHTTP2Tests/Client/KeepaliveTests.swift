import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterTestSupport
import Testing

/// Keepalive on the wire: our client, a fault proxy, our server, on 127.0.0.1, with short real intervals.
@Suite(.timeLimit(.minutes(TestTime.minutes(1)))) struct KeepaliveTests {
    /// A server that tolerates PINGs as often as these tests send them (gRPC's default would answer the
    /// fourth with GOAWAY "too_many_pings").
    static let permissive = HTTP2ServerTransport.Configuration(
        pingPolicy: .init(minimumInterval: .milliseconds(1), permitWithoutCalls: true))

    @Test func aZombieConnectionIsFoundByKeepaliveAndTheNextCallGetsANewOne() async throws {
        let server = try await TestServer.start(configuration: Self.permissive)
        let proxy = try FaultProxy(upstreamPort: server.port)
        let configuration = HTTP2ClientTransport.Configuration().keepalive(time: .milliseconds(200), timeout: .milliseconds(200))
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: proxy.port, configuration: configuration)
        #expect(await TestCalls.call(client, "Echo", [[1]]).status.code == .ok)

        // A call without deadline that the server never answers: only keepalive can end it.
        let hanging = Task { await TestCalls.call(client, "Hang", [[1]]) }
        await server.dispatcher.waitForAccepted(2)
        // While the path is healthy, PINGs go out and are acknowledged, and the connection stays.
        #expect(await eventually { proxy.frames(.ping, .toServer) >= 2 && proxy.frames(.ping, .toClient) >= 2 })
        #expect(proxy.acceptedConnections == 1)

        proxy.drop()
        let dropped = ContinuousClock.now
        let result = await hanging.value
        let detected = dropped.duration(to: .now)
        #expect(result.status.code == .unavailable, "\(result.status)")
        #expect(result.status.message.contains("keepalive"), "\(result.status)")
        // A PING is due at most 200 ms after the last read, and given 200 ms: well within 3 s (the
        // default timeout would be 20 s).
        #expect(detected < .seconds(3), "detected after \(detected)")

        proxy.heal()
        let next = await TestCalls.call(client, "Echo", [[2]])
        #expect(next.status.code == .ok, "\(next.status)")
        #expect(proxy.acceptedConnections == 2)

        await client.close()
        proxy.stop()
        await server.transport.shutdownGracefully(gracePeriod: .zero)
    }

    @Test func withoutCallsPingsGoOutOnlyWhenPermitted() async throws {
        let server = try await TestServer.start(configuration: Self.permissive)
        let proxy = try FaultProxy(upstreamPort: server.port)
        let configuration = HTTP2ClientTransport.Configuration()
            .keepalive(time: .milliseconds(50), timeout: .seconds(5), permitWithoutCalls: true)
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: proxy.port, configuration: configuration)
        #expect(await TestCalls.call(client, "Echo", [[1]]).status.code == .ok)
        // No call is open, yet the idle connection is pinged and answers.
        #expect(await eventually { proxy.frames(.ping, .toServer) >= 3 && proxy.frames(.ping, .toClient) >= 3 })
        #expect(proxy.acceptedConnections == 1)
        await client.close()
        proxy.stop()
        await server.transport.shutdownGracefully(gracePeriod: .zero)
    }

    @Test func aClientTooEagerForTheServersPolicyIsSentTooManyPingsAndClosed() async throws {
        let server = try await TestServer.start()  // gRPC's enforcement
        let proxy = try FaultProxy(upstreamPort: server.port)
        let configuration = HTTP2ClientTransport.Configuration().keepalive(time: .milliseconds(50), timeout: .seconds(5))
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: proxy.port, configuration: configuration)
        let hanging = await TestCalls.call(client, "Hang", [[1]])
        #expect(hanging.status.code == .unavailable, "\(hanging.status)")
        #expect(proxy.frames(.goAway, .toClient) >= 1)
        // Accepted, two strikes, and the third strike (grpc-go's count); the doubling that follows is
        // `PingStrikesTests.aClientToldTooManyPingsDoublesItsKeepaliveTime`.
        // (At least: a PING may cross the GOAWAY; the exact count is ServerKeepaliveTests' raw client's.)
        #expect(proxy.frames(.ping, .toServer) >= 4)
        await client.close()
        proxy.stop()
        await server.transport.shutdownGracefully(gracePeriod: .zero)
    }
}
