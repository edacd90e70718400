import BreakwaterTestSupport
import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterProtobuf
import BreakwaterResilience
import EchoService
import Foundation
import Testing

/// The connection faults a circuit breaker must see the truth about, one test each: our echo client
/// (with and without the standard chain), a fault proxy, our echo server, on 127.0.0.1. The transport
/// runs on real time here, so the bounds are real-time and generous (about twice the figure measured
/// on an idle machine); the rules behind them are tested with injected instants in the state-machine
/// tests.
@Suite(.timeLimit(.minutes(TestTime.minutes(2)))) struct ConnectionFaultTests {
    /// Prints a measured figure when `BREAKWATER_FIGURES=1` (for the record; the bounds are asserted).
    func figure(_ what: String, _ value: some CustomStringConvertible) {
        if ProcessInfo.processInfo.environment["BREAKWATER_FIGURES"] == "1" { print("figure: \(what): \(value)") }
    }

    /// An echo server behind a fault proxy, and a client of the proxy.
    struct Setup {
        /// Our echo server, unless the proxy fronts another upstream.
        let live: LiveEchoServer?
        let proxy: FaultProxy
        let transport: HTTP2ClientTransport
        let grpc: GRPCClient
        let echo: Echo_EchoClient
        let resilience: ResilienceConfiguration?

        /// Starts our echo server behind the proxy, or puts the proxy in front of `upstream`.
        static func start(
            configuration: HTTP2ClientTransport.Configuration = .init(), serviceConfig: String? = nil,
            upstream: Int? = nil
        ) async throws -> Setup {
            let live = upstream == nil ? try await LiveEchoServer.start() : nil
            let proxy = try FaultProxy(upstreamPort: upstream ?? live?.port ?? 0)
            let transport = HTTP2ClientTransport(host: "127.0.0.1", port: proxy.port, configuration: configuration)
            let resilience = try serviceConfig.map { try ResilienceConfiguration(serviceConfig: ServiceConfig(json: $0), target: "echo") }
            let grpc = resilience.map { GRPCClient(transport: transport, resilience: $0) } ?? GRPCClient(transport: transport)
            return Setup(
                live: live, proxy: proxy, transport: transport, grpc: grpc, echo: Echo_EchoClient(wrapping: grpc),
                resilience: resilience)
        }

        /// One Get with `timeout`: its status code (OK when it succeeded).
        func get(timeout: Duration? = .milliseconds(500)) async -> Status.Code {
            do {
                _ = try await echo.get(.with { $0.text = "x" }, options: CallOptions(timeout: timeout))
                return .ok
            } catch let error as RPCError {
                return error.code
            } catch {
                return .unknown
            }
        }

        /// Calls Get one after the other until `until`, then until one succeeds: the instant the
        /// first call that succeeded after `until` had started (nil when none did before `giveUp`).
        func firstSuccessStartedAfter(
            _ until: ContinuousClock.Instant, giveUp: Duration = .seconds(15)
        ) async -> (started: ContinuousClock.Instant, ended: ContinuousClock.Instant)? {
            let end = until + giveUp
            while ContinuousClock.now < end {
                let started = ContinuousClock.now
                let code = await get()
                if code == .ok && started >= until { return (started, .now) }
                // A rejection returns in microseconds: do not spin on it.
                if code == .unavailable { try? await Task.sleep(for: .milliseconds(10)) }
            }
            return nil
        }

        func stop() async {
            await grpc.close()
            proxy.stop()
            await live?.stop()
        }
    }

    @Test func withKeepaliveACallWithoutDeadlineOnAZombieFailsWithinTheKeepaliveBounds() async throws {
        let setup = try await Setup.start(configuration: .init().keepalive(time: .seconds(1), timeout: .seconds(1)))
        #expect(await setup.get() == .ok)
        setup.proxy.drop()
        let started = ContinuousClock.now
        let code = await setup.get(timeout: nil)
        let took = started.duration(to: .now)
        #expect(code == .unavailable)
        figure("keepalive 1 s / 1 s, zombie: call without deadline failed after", took)
        // 1 s quiet, then 1 s for the PING's answer: about 2 s (measured 2.0 s).
        #expect(took < .seconds(4), "failed after \(took)")
        await setup.stop()
    }

    @Test func afterASilentDropOutageTheFirstCallStartedAfterRecoverySucceeds() async throws {
        let setup = try await Setup.start()  // defaults: no keepalive, zombie detection on
        #expect(await setup.get() == .ok)
        setup.proxy.drop()
        let outage = ContinuousClock.now
        // Calls with 500 ms deadlines all through the outage.
        var failures = 0
        while ContinuousClock.now < outage + .seconds(3) {
            if await setup.get() != .ok { failures += 1 }
        }
        setup.proxy.heal()
        let code = await setup.get()
        #expect(code == .ok, "the first call after the heal: \(code)")
        figure("defaults, zombie 3 s: calls failed during the outage", failures)
        #expect(failures >= 3)
        #expect(setup.proxy.acceptedConnections >= 2, "the zombie was replaced")
        await setup.stop()
    }

    /// 5 failures open the breaker for 1 s (growing to at most 2 s); calls have 500 ms deadlines.
    static let breakerConfig = #"""
        {"methodConfig": [{"name": [{"service": "echo.Echo"}], "timeout": "0.5s",
          "circuitBreakerPolicy": {"consecutiveFailures": 5, "openDuration": "1s", "maxOpenDuration": "2s",
                                   "openDurationMultiplier": 2, "jitter": 0}}]}
        """#

    @Test func withABreakerTheFirstOKAfterAZombieOutageComesWithinTheOpenDurationPlusASecond() async throws {
        let setup = try await Setup.start(serviceConfig: Self.breakerConfig)
        #expect(await setup.get() == .ok)
        setup.proxy.drop()
        let outage = ContinuousClock.now
        while ContinuousClock.now < outage + .seconds(3) {
            if await setup.get() == .unavailable { try? await Task.sleep(for: .milliseconds(10)) }
        }
        let breaker = try #require(setup.resilience?.registry.existingBreaker(
            for: BreakerKey(target: "echo", service: "echo.Echo", method: "Get")))
        #expect(await setup.get() == .unavailable, "the outage opened it (or the probe failed)")
        setup.proxy.heal()
        let healed = ContinuousClock.now
        let first = try #require(await setup.firstSuccessStartedAfter(healed), "no call succeeded after the heal")
        let after = healed.duration(to: first.ended)
        // The open duration (at most 2 s), then a probe on a connection that works (measured 1-2 s).
        #expect(after < .seconds(2) + .seconds(1) + .seconds(1), "first OK \(after) after the heal")
        figure("breaker, zombie 3 s: first OK after the heal", after)
        // The probes' successes close it.
        for _ in 0..<5 where breaker.currentState != .closed { _ = await setup.get() }
        #expect(breaker.currentState == .closed)
        await setup.stop()
    }

    @Test func afterRefusedConnectionsTheFirstOKComesSoonAfterTheServerAcceptsAgain() async throws {
        // Without a breaker: the reconnect backoff (1 s, x1.6) finds the server.
        let plain = try await Setup.start()
        plain.proxy.refuse()
        let refusing = ContinuousClock.now
        while ContinuousClock.now < refusing + .seconds(3) {
            if await plain.get() != .ok { try? await Task.sleep(for: .milliseconds(10)) }
        }
        try plain.proxy.accept()
        let accepting = ContinuousClock.now
        let first = try #require(await plain.firstSuccessStartedAfter(accepting))
        let plainAfter = accepting.duration(to: first.ended)
        // The next backoff ends at most about 2.6 s after the server returns (measured 0.3-2.4 s).
        #expect(plainAfter < .seconds(3) + .seconds(2), "first OK \(plainAfter) after the server accepted")
        figure("no breaker, refused 3 s: first OK after the server accepted", plainAfter)
        await plain.stop()

        // With a breaker: its probe connects at once, wherever the backoff is.
        let guarded = try await Setup.start(serviceConfig: Self.breakerConfig)
        guarded.proxy.refuse()
        let refused = ContinuousClock.now
        while ContinuousClock.now < refused + .seconds(3) {
            if await guarded.get() != .ok { try? await Task.sleep(for: .milliseconds(10)) }
        }
        try guarded.proxy.accept()
        let accepted = ContinuousClock.now
        let probed = try #require(await guarded.firstSuccessStartedAfter(accepted))
        let guardedAfter = accepted.duration(to: probed.ended)
        // At most the open duration (2 s at most here) until the probe, which connects at once.
        #expect(guardedAfter < .seconds(2) + .seconds(1), "first OK \(guardedAfter) after the server accepted")
        figure("breaker, refused 3 s: first OK after the server accepted", guardedAfter)
        await guarded.stop()
    }

    @Test func againstGrpcioAZombieIsDetectedAndTheFirstCallAfterRecoverySucceeds() async throws {
        let peer = try await PythonPeer.Server()
        let setup = try await Setup.start(upstream: peer.port)
        #expect(await setup.get() == .ok)
        setup.proxy.drop()
        #expect(await setup.get() == .deadlineExceeded)
        // grpcio's server answers nothing through the drop: the PING goes unanswered, the connection goes.
        #expect(await eventually { setup.proxy.frames(type: 6, .toServer) >= 1 && setup.transport.connectivityState != .ready })
        setup.proxy.heal()
        #expect(await setup.get() == .ok)
        #expect(setup.proxy.acceptedConnections >= 2)
        await setup.stop()
        await peer.stop()
    }

    @Test func aResetFailsOnlyTheCallsInFlightAndTheNextCallConnectsAnew() async throws {
        let setup = try await Setup.start()
        #expect(await setup.get() == .ok)
        setup.proxy.reset()
        #expect(await eventually { setup.proxy.openConnections == 0 && setup.transport.connectivityState == .idle })
        #expect(await setup.get() == .ok)
        #expect(setup.proxy.acceptedConnections == 2)
        await setup.stop()
    }

    @Test func aStallInOneDirectionEndsByTheDeadlineAndIsDetected() async throws {
        let setup = try await Setup.start()
        #expect(await setup.get() == .ok)
        // The server's answers stop coming: the request arrives, nothing comes back.
        setup.proxy.stall(.toClient)
        #expect(await setup.get(timeout: .milliseconds(300)) == .deadlineExceeded)
        // The call heard nothing: the client PINGs, no answer comes within 1 s, the connection goes.
        #expect(await eventually { setup.proxy.openConnections == 0 && setup.transport.connectivityState == .idle })
        setup.proxy.heal()
        #expect(await setup.get() == .ok)
        #expect(setup.proxy.acceptedConnections == 2)
        await setup.stop()
    }
}
