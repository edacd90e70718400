import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterTestSupport
import Testing

/// The server's side of keepalive on the wire: its own PINGs find a client that went silent, and a
/// client that PINGs too often is sent GOAWAY ENHANCE_YOUR_CALM "too_many_pings".
@Suite(.timeLimit(.minutes(TestTime.minutes(1)))) struct ServerKeepaliveTests {
    @Test func theServerClosesAConnectionWhoseClientWentSilent() async throws {
        let server = try await TestServer.start(
            configuration: .init(keepalive: .init(time: .milliseconds(200), timeout: .milliseconds(200))))
        let proxy = try FaultProxy(upstreamPort: server.port)
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: proxy.port)
        var cancellations = server.dispatcher.cancellations.stream.makeAsyncIterator()
        let hanging = Task { await TestCalls.call(client, "Hang", [[1]]) }
        await server.dispatcher.waitForAccepted(1)
        // The server PINGs the quiet connection and the client answers.
        #expect(await eventually { proxy.frames(.ping, .toClient) >= 2 && proxy.frames(.ping, .toServer) >= 2 })

        proxy.drop()
        let dropped = ContinuousClock.now
        // The server gives up on the connection: its handler is cancelled.
        let cancelled = await cancellations.next()
        let detected = dropped.duration(to: .now)
        #expect(cancelled == "/test.Echo/Hang")
        #expect(detected < .seconds(3), "detected after \(detected)")
        // Closed on the server's side, the proxy closes the client's side too.
        #expect(await hanging.value.status.code == .unavailable)

        await client.close()
        proxy.stop()
        await server.transport.shutdownGracefully(gracePeriod: .zero)
    }

    @Test func aClientPingingTooOftenIsToldTooManyPingsAndClosed() async throws {
        let server = try await TestServer.start()  // gRPC's enforcement: 5 minutes, 2 strikes
        let (goAway, closed) = try await offPool { () throws -> (RawFrame?, Bool) in
            let c = try RawConnection(port: server.port)
            c.handshake()
            for i in 0..<4 {
                c.write(RawFrames.frame(.ping, payload: [UInt8](repeating: UInt8(i), count: 8)))
            }
            let goAway = c.readUntil { $0.isGoAway }
            return (goAway, c.closedByPeer())
        }
        #expect(goAway?.errorCode == 0xb, "ENHANCE_YOUR_CALM")
        #expect(goAway.map { Array($0.payload.dropFirst(8)) } == Array("too_many_pings".utf8))
        #expect(closed)
        await server.transport.shutdownGracefully(gracePeriod: .zero)
    }

    @Test func threePingsTooSoonAreToleratedAsStrikes() async throws {
        let server = try await TestServer.start()
        let (acks, goAway) = try await offPool { () throws -> (Int, Bool) in
            let c = try RawConnection(port: server.port, timeout: 1)
            c.handshake()
            for i in 0..<3 {
                c.write(RawFrames.frame(.ping, payload: [UInt8](repeating: UInt8(i), count: 8)))
            }
            var acks = 0
            while acks < 3, let frame = c.readFrame() {
                if frame.isGoAway { return (acks, true) }
                if frame.kind == RawFrames.Kind.ping.rawValue && frame.flags & 1 == 1 { acks += 1 }
            }
            return (acks, false)
        }
        #expect(acks == 3)
        #expect(!goAway)
        await server.transport.shutdownGracefully(gracePeriod: .zero)
    }
}
