import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterTestSupport
import Testing

/// Connectivity states on the wire, as the transport publishes them.
@Suite(.timeLimit(.minutes(TestTime.minutes(1)))) struct ConnectivityStateTests {
    @Test func aConnectionGoesThroughItsStatesInOrder() async throws {
        let server = try await TestServer.start()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        #expect(client.connectivityState == .idle)
        var changes = client.connectivityStateChanges().makeAsyncIterator()
        #expect(await TestCalls.call(client, "Echo", [[1]]).status.code == .ok)
        let connecting = await changes.next()
        #expect(connecting?.from == .idle && connecting?.to == .connecting)
        let ready = await changes.next()
        #expect(ready?.from == .connecting && ready?.to == .ready)
        #expect(client.connectivityState == .ready)
        // The server goes away (GOAWAY): the next call would connect anew.
        await server.transport.shutdownGracefully(gracePeriod: .zero)
        let lost = await changes.next()
        #expect(lost?.from == .ready && lost?.to == .idle)
        await client.close()
        let shutdown = await changes.next()
        #expect(shutdown?.to == .shutdown)
        #expect(await changes.next() == nil, "the stream ends with SHUTDOWN")
    }

    /// A server that accepts and resets every connection (an attempt that fails before the server's
    /// SETTINGS), counting them.
    static func resettingServer() throws -> (RawServer, Counter) {
        let accepted = Counter()
        let server = try RawServer { connection in
            accepted.increment()
            connection.abort()
        }
        return (server, accepted)
    }

    @Test func inTransientFailureCallsFailAtOnceWithTheConnectError() async throws {
        let (server, accepted) = try Self.resettingServer()
        // A backoff far longer than the test, so that every call below falls inside it however loaded
        // the machine is (the reconnect at its end is the next test's).
        let configuration = HTTP2ClientTransport.Configuration(
            backoff: .init(initial: .seconds(60), multiplier: 1, maximum: .seconds(60), jitter: 0))
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port, configuration: configuration)
        var changes = client.connectivityStateChanges().makeAsyncIterator()
        let first = await TestCalls.call(client, "Echo", [[1]])
        #expect(first.status.code == .unavailable, "\(first.status)")
        #expect(await changes.next()?.to == .connecting)
        let failure = await changes.next()
        #expect(failure?.to == .transientFailure)
        let connectError = try #require(failure?.error)
        #expect(connectError.message.contains("127.0.0.1:\(server.port)"), "\(connectError)")

        // While backing off, calls fail at once with that error and start no attempt of their own.
        for _ in 0..<10 {
            let call = await TestCalls.call(client, "Echo", [[2]])
            #expect(call.status.code == .unavailable)
            #expect(call.status.message == connectError.message)
            #expect(call.end?.neverReachedServer == true)
        }
        #expect(accepted.value == 1)
        #expect(client.connectivityState == .transientFailure)

        await client.close()
        server.stop()
    }

    @Test func theTransportReconnectsByItselfWhenTheBackoffEnds() async throws {
        let (server, accepted) = try Self.resettingServer()
        let configuration = HTTP2ClientTransport.Configuration(
            backoff: .init(initial: .milliseconds(200), multiplier: 1, maximum: .milliseconds(200), jitter: 0))
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port, configuration: configuration)
        var changes = client.connectivityStateChanges().makeAsyncIterator()
        #expect(await TestCalls.call(client, "Echo", [[1]]).status.code == .unavailable)
        #expect(await changes.next()?.to == .connecting)
        #expect(await changes.next()?.to == .transientFailure)
        // No call asks: the backoff's end starts the next attempt.
        let again = await changes.next()
        #expect(again?.from == .transientFailure && again?.to == .connecting)
        #expect(await eventually { accepted.value >= 2 })

        await client.close()
        server.stop()
    }

    @Test func aConnectionIsReadyOnlyOnceTheServersSettingsArrive() async throws {
        // Accepts, reads, and never says a word: TCP is up, SETTINGS never come.
        let server = try RawServer { connection in _ = connection.readToEnd() }
        let client = HTTP2ClientTransport(
            host: "127.0.0.1", port: server.port, configuration: .init(connectTimeout: .milliseconds(300)))
        var changes = client.connectivityStateChanges().makeAsyncIterator()
        let call = await TestCalls.call(client, "Echo", [[1]])
        #expect(call.status.code == .unavailable, "\(call.status)")
        #expect(await changes.next()?.to == .connecting)
        // Not READY in between: the attempt times out in CONNECTING.
        let failure = await changes.next()
        #expect(failure?.from == .connecting && failure?.to == .transientFailure)
        #expect(failure?.error?.message.contains("timed out") == true, "\(String(describing: failure))")
        await client.close()
        server.stop()
    }
}
