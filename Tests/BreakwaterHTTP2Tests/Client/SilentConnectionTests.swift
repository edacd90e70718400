import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterTestSupport
import Testing

/// Zombie detection without keepalive: a call that ends by its deadline with nothing read from its
/// connection makes the client PING the connection, and close it when no answer comes. Our client, a
/// fault proxy, our server, on 127.0.0.1.
@Suite(.timeLimit(.minutes(TestTime.minutes(1)))) struct SilentConnectionTests {
    @Test func aDeadlineOnAZombieConnectionGetsItClosedAndTheNextCallConnectsAnew() async throws {
        let server = try await TestServer.start()
        let proxy = try FaultProxy(upstreamPort: server.port)
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: proxy.port)  // defaults: no keepalive
        #expect(await TestCalls.call(client, "Echo", [[1]]).status.code == .ok)

        proxy.drop()
        let timedOut = await TestCalls.call(client, "Echo", [[2]], deadline: .now + .milliseconds(200))
        #expect(timedOut.status.code == .deadlineExceeded, "\(timedOut.status)")
        let ended = ContinuousClock.now
        // The PING goes out, nothing answers, the connection is closed (default bound 1 s).
        #expect(await eventually { proxy.frames(.ping, .toServer) >= 1 && proxy.openConnections == 0 })
        let closed = ended.duration(to: .now)
        #expect(closed < .seconds(3), "closed \(closed) after the deadline")
        #expect(proxy.frames(.ping, .toServer) == 1)

        proxy.heal()
        let next = await TestCalls.call(client, "Echo", [[3]])
        #expect(next.status.code == .ok, "\(next.status)")
        #expect(proxy.acceptedConnections == 2)

        await client.close()
        proxy.stop()
        await server.transport.shutdownGracefully(gracePeriod: .zero)
    }

    @Test func aHealthyConnectionAnswersThePingAndStays() async throws {
        let server = try await TestServer.start()
        let proxy = try FaultProxy(upstreamPort: server.port)
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: proxy.port)
        #expect(await TestCalls.call(client, "Echo", [[1]]).status.code == .ok)
        // The server holds the call without a word, and nothing it sends reaches the client until the
        // client's own deadline has ended the call: the server enforces the same deadline (from
        // grpc-timeout), and its DEADLINE_EXCEEDED, read first when it wins the race, would end the call instead.
        proxy.stall(.toClient)
        let timedOut = await TestCalls.call(client, "Hang", [[2]], deadline: .now + .milliseconds(100))
        #expect(timedOut.status.code == .deadlineExceeded, "\(timedOut.status)")
        #expect(await eventually { proxy.frames(.ping, .toServer) == 1 })
        proxy.heal()  // the answer to the PING comes back within the bound (1 s)
        #expect(await eventually { proxy.frames(.ping, .toClient) == 1 })
        let next = await TestCalls.call(client, "Echo", [[3]])
        #expect(next.status.code == .ok, "\(next.status)")
        #expect(proxy.acceptedConnections == 1)
        #expect(proxy.openConnections == 1)

        await client.close()
        proxy.stop()
        await server.transport.shutdownGracefully(gracePeriod: .zero)
    }

    @Test func turnedOffNoPingGoesOut() async throws {
        let server = try await TestServer.start()
        let proxy = try FaultProxy(upstreamPort: server.port)
        let configuration = HTTP2ClientTransport.Configuration(silentConnectionPingTimeout: nil)
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: proxy.port, configuration: configuration)
        #expect(await TestCalls.call(client, "Echo", [[1]]).status.code == .ok)  // connected: the call will start
        // As above: the client, not the server's DEADLINE_EXCEEDED, ends the call, so it resets the stream.
        proxy.stall(.toClient)
        let timedOut = await TestCalls.call(client, "Hang", [[2]], deadline: .now + .milliseconds(100))
        #expect(timedOut.status.code == .deadlineExceeded, "\(timedOut.status)")
        // The RST_STREAM of the deadline is the last frame the client sends; after it has gone by, no PING.
        #expect(await eventually { proxy.frames(.rstStream, .toServer) == 1 })
        proxy.heal()
        #expect(await TestCalls.call(client, "Echo", [[3]]).status.code == .ok)
        #expect(proxy.frames(.ping, .toServer) == 0)

        await client.close()
        proxy.stop()
        await server.transport.shutdownGracefully(gracePeriod: .zero)
    }
}
