import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterTestSupport
import Testing

/// Wait-for-ready, probes that see the truth, abandoned silent attempts and the client idle timeout, on
/// the wire: our client, a fault proxy, our server, on 127.0.0.1.
@Suite(.timeLimit(.minutes(TestTime.minutes(1)))) struct ConnectionLifeTests {
    /// A short, fixed backoff, so that reconnects come quickly.
    static func configuration(backoff: Duration = .milliseconds(50), idle: Duration? = nil) -> HTTP2ClientTransport.Configuration {
        HTTP2ClientTransport.Configuration(
            backoff: .init(initial: backoff, multiplier: 1, maximum: backoff, jitter: 0),
            silentConnectionPingTimeout: .milliseconds(300),
            idleTimeout: idle)
    }

    // MARK: Wait for ready

    @Test func aWaitForReadyCallWaitsThroughTransientFailureAndRunsOnceTheServerAccepts() async throws {
        let server = try await TestServer.start()
        let proxy = try FaultProxy(upstreamPort: server.port)
        proxy.refuse()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: proxy.port, configuration: Self.configuration())
        let failFast = await TestCalls.call(client, "Echo", [[1]])
        #expect(failFast.status.code == .unavailable, "\(failFast.status)")

        let waiting = Task { await TestCalls.call(client, "Echo", [[2]], deadline: .now + .seconds(20), waitForReady: true) }
        // It does not fail at the next failed attempts: let a few go by.
        var changes = client.connectivityStateChanges().makeAsyncIterator()
        for _ in 0..<4 { _ = await changes.next() }
        try proxy.accept()
        let result = await waiting.value
        #expect(result.status.code == .ok, "\(result.status)")
        #expect(result.messages == [[2]])

        await client.close()
        proxy.stop()
        await server.transport.shutdownGracefully(gracePeriod: .zero)
    }

    @Test func aWaitForReadyCallStillEndsByItsDeadline() async throws {
        let proxy = try FaultProxy(upstreamPort: 1)
        proxy.refuse()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: proxy.port, configuration: Self.configuration())
        let result = await TestCalls.call(client, "Echo", [[1]], deadline: .now + .milliseconds(300), waitForReady: true)
        #expect(result.status.code == .deadlineExceeded, "\(result.status)")
        await client.close()
        proxy.stop()
    }

    // MARK: Probes

    @Test func aProbeInTransientFailureConnectsAtOnceInsteadOfWaitingOutTheBackoff() async throws {
        let server = try await TestServer.start()
        let proxy = try FaultProxy(upstreamPort: server.port)
        proxy.refuse()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: proxy.port, configuration: Self.configuration(backoff: .seconds(60)))
        #expect(await TestCalls.call(client, "Echo", [[1]]).status.code == .unavailable)
        try proxy.accept()
        // Backing off for a minute: an ordinary call fails fast, a probe connects.
        let ordinary = await TestCalls.call(client, "Echo", [[2]])
        #expect(ordinary.status.code == .unavailable, "\(ordinary.status)")
        #expect(client.connectivityState == .transientFailure, "an ordinary call starts no attempt")
        let probe = await TestCalls.call(client, "Echo", [[3]], deadline: .now + .seconds(5), isProbe: true)
        #expect(probe.status.code == .ok, "\(probe.status)")
        #expect(client.connectivityState == .ready)

        await client.close()
        proxy.stop()
        await server.transport.shutdownGracefully(gracePeriod: .zero)
    }

    @Test func aProbeWaitsForAPingAnswerOnAHealthyConnection() async throws {
        let server = try await TestServer.start()
        let proxy = try FaultProxy(upstreamPort: server.port)
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: proxy.port, configuration: Self.configuration())
        #expect(await TestCalls.call(client, "Echo", [[1]]).status.code == .ok)
        #expect(proxy.frames(.ping, .toServer) == 0)
        let probe = await TestCalls.call(client, "Echo", [[2]], deadline: .now + .seconds(5), isProbe: true)
        #expect(probe.status.code == .ok, "\(probe.status)")
        #expect(proxy.frames(.ping, .toServer) == 1, "the probe's PING")
        #expect(proxy.acceptedConnections == 1)

        await client.close()
        proxy.stop()
        await server.transport.shutdownGracefully(gracePeriod: .zero)
    }

    @Test func aProbeNeverRidesAZombieConnection() async throws {
        let server = try await TestServer.start()
        let proxy = try FaultProxy(upstreamPort: server.port)
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: proxy.port, configuration: Self.configuration())
        #expect(await TestCalls.call(client, "Echo", [[1]]).status.code == .ok)
        proxy.drop()
        let probe = Task { await TestCalls.call(client, "Echo", [[2]], deadline: .now + .seconds(10), isProbe: true) }
        // Its PING went out and is lost; the path heals before the PING's bound ends.
        #expect(await eventually { proxy.frames(.ping, .toServer) == 1 })
        proxy.heal()
        let result = await probe.value
        #expect(result.status.code == .ok, "\(result.status)")
        #expect(proxy.acceptedConnections == 2, "the probe went out on a new connection")
        // The first call's HEADERS and the probe's on the new connection; none on the zombie.
        #expect(proxy.frames(.headers, .toServer) == 2)

        await client.close()
        proxy.stop()
        await server.transport.shutdownGracefully(gracePeriod: .zero)
    }

    // MARK: Silent attempts

    @Test func anAttemptThatHeardNothingIsAbandonedWhenItsLastCallerLeaves() async throws {
        let server = try await TestServer.start()
        let proxy = try FaultProxy(upstreamPort: server.port)
        proxy.drop()  // accepted, but nothing gets through: no SETTINGS ever arrives
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: proxy.port, configuration: Self.configuration())
        let lost = await TestCalls.call(client, "Echo", [[1]], deadline: .now + .milliseconds(200))
        #expect(lost.status.code == .deadlineExceeded, "\(lost.status)")
        // Back to IDLE, not waiting for the connect timeout (20 s), and the socket is closed.
        #expect(await eventually { client.connectivityState == .idle && proxy.openConnections == 0 })

        proxy.heal()
        let next = await TestCalls.call(client, "Echo", [[2]], deadline: .now + .seconds(5))
        #expect(next.status.code == .ok, "\(next.status)")
        #expect(proxy.acceptedConnections == 2)

        await client.close()
        proxy.stop()
        await server.transport.shutdownGracefully(gracePeriod: .zero)
    }

    @Test func anAttemptIsKeptWhileOtherCallsWaitForIt() async throws {
        let server = try await TestServer.start()
        let proxy = try FaultProxy(upstreamPort: server.port)
        proxy.stall(.toClient)  // the server's SETTINGS wait in the proxy
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: proxy.port, configuration: Self.configuration())
        let patient = Task { await TestCalls.call(client, "Echo", [[1]], deadline: .now + .seconds(10)) }
        #expect(await eventually { proxy.acceptedConnections >= 1 }, "the patient call's attempt reached the proxy")
        let hasty = await TestCalls.call(client, "Echo", [[2]], deadline: .now + .milliseconds(100))
        #expect(hasty.status.code == .deadlineExceeded)
        proxy.heal()
        let result = await patient.value
        #expect(result.status.code == .ok, "\(result.status)")
        #expect(proxy.acceptedConnections == 1, "the hasty call's end did not abandon the attempt")

        await client.close()
        proxy.stop()
        await server.transport.shutdownGracefully(gracePeriod: .zero)
    }

    // MARK: Idle timeout

    @Test func anUnusedConnectionIsClosedAfterTheIdleTimeoutAndTheNextCallConnectsAnew() async throws {
        let server = try await TestServer.start()
        let proxy = try FaultProxy(upstreamPort: server.port)
        let client = HTTP2ClientTransport(
            host: "127.0.0.1", port: proxy.port, configuration: Self.configuration(idle: .milliseconds(100)))
        var changes = client.connectivityStateChanges().makeAsyncIterator()
        #expect(await TestCalls.call(client, "Echo", [[1]]).status.code == .ok)
        #expect(await changes.next()?.to == .connecting)
        #expect(await changes.next()?.to == .ready)
        let idle = await changes.next()
        #expect(idle?.from == .ready && idle?.to == .idle)
        #expect(await eventually { proxy.frames(.goAway, .toServer) == 1 && proxy.openConnections == 0 })

        #expect(await TestCalls.call(client, "Echo", [[2]]).status.code == .ok)
        #expect(proxy.acceptedConnections == 2)

        await client.close()
        proxy.stop()
        await server.transport.shutdownGracefully(gracePeriod: .zero)
    }

    @Test func aConnectionWithACallOpenIsNotIdle() async throws {
        let server = try await TestServer.start()
        let proxy = try FaultProxy(upstreamPort: server.port)
        let client = HTTP2ClientTransport(
            host: "127.0.0.1", port: proxy.port, configuration: Self.configuration(idle: .milliseconds(50)))
        // The server holds the call until the test cancels it: six idle periods go by meanwhile. (A
        // wrong close would come within two; a stalled machine only makes this check weaker.)
        let held = Task { await TestCalls.call(client, "Hang", [[1]]) }
        await server.dispatcher.waitForAccepted(1)
        try await Task.sleep(for: .milliseconds(300))
        #expect(proxy.frames(.goAway, .toServer) == 0)
        #expect(client.connectivityState == .ready)
        held.cancel()
        #expect(await held.value.status.code == .cancelled)
        // Without the call, it goes idle.
        #expect(await eventually { client.connectivityState == .idle })
        #expect(proxy.acceptedConnections == 1)

        await client.close()
        proxy.stop()
        await server.transport.shutdownGracefully(gracePeriod: .zero)
    }
}
