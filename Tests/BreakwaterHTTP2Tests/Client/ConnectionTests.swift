import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite(.timeLimit(.minutes(TestTime.minutes(1)))) struct ConnectionTests {
    /// A port with no listener: bound by a server that is then shut down.
    static func closedPort() async throws -> Int {
        let server = try await TestServer.start()
        await server.transport.shutdownGracefully(gracePeriod: .zero)
        return server.port
    }

    @Test func connectionRefusedNamesTheAddress() async throws {
        let port = try await Self.closedPort()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: port)
        let result = await TestCalls.call(client, "Echo", [[1]])
        #expect(result.status.code == .unavailable)
        #expect(result.status.message.contains("connection refused: 127.0.0.1:\(port)"), "\(result.status)")
        #expect(result.end?.neverReachedServer == true)
        // While backing off, new streams fail fast with the same error.
        let again = await TestCalls.call(client, "Echo", [[1]])
        #expect(again.status.code == .unavailable)
        #expect(again.end?.neverReachedServer == true)
        await client.close()
    }

    @Test func portInUseIsAClearError() async throws {
        let server = try await TestServer.start()
        let second = HTTP2ServerTransport(host: "127.0.0.1", port: server.port)
        do {
            _ = try await second.start { _ in }
            Issue.record("second server started on a used port")
        } catch let error as RPCError {
            #expect(error.code == .unavailable)
            #expect(error.message.contains("address already in use: 127.0.0.1:\(server.port)"), "\(error)")
        }
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func ipv6Loopback() async throws {
        let server = try await TestServer.start(host: "::1")
        let client = HTTP2ClientTransport(host: "[::1]", port: server.port)
        let result = await TestCalls.call(client, "Encoding", [[1]])
        #expect(result.status.code == .ok, "\(result.status)")
        #expect(result.end?.trailers.firstString(forKey: "peer")?.hasPrefix("ipv6:[::1]:") == true)
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func localhostResolves() async throws {
        let server = try await TestServer.start()
        let client = HTTP2ClientTransport(host: "localhost", port: server.port)
        let result = await TestCalls.call(client, "Echo", [[1, 2]])
        #expect(result.status.code == .ok, "\(result.status)")
        #expect(result.messages == [[1, 2]])
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func reconnectsAfterServerRestart() async throws {
        let first = try await TestServer.start()
        let port = first.port
        let configuration = HTTP2ClientTransport.Configuration(
            backoff: .init(initial: .milliseconds(20), multiplier: 1.5, maximum: .milliseconds(100), jitter: 0))
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: port, configuration: configuration)
        #expect(await TestCalls.call(client, "Echo", [[1]]).status.code == .ok)
        await first.transport.shutdownGracefully(gracePeriod: .seconds(1))
        let down = await TestCalls.call(client, "Echo", [[1]])
        #expect(down.status.code == .unavailable)
        let second = try await TestServer.start(port: port)
        var status = Status(code: .unknown)
        for _ in 0..<200 {
            status = await TestCalls.call(client, "Echo", [[2]]).status
            if status.code == .ok { break }
            try await Task.sleep(for: .milliseconds(10))  // pacing only; the loop waits for success
        }
        #expect(status.code == .ok, "\(status)")
        await client.close()
        await second.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func gracefulShutdownLetsInFlightCallFinish() async throws {
        let server = try await TestServer.start()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        let stream = await client.makeStream(head: ClientRequestHead(method: TestCalls.method("Echo")))
        try await stream.send([1], endStream: false)
        var echoed = false
        while !echoed, let event = await stream.next() {
            if case .message = event { echoed = true }
        }
        #expect(echoed)
        let shutdown = Task { await server.transport.shutdownGracefully(gracePeriod: .seconds(10)) }
        // New connections are refused once the listener is closed.
        var refused = false
        for _ in 0..<200 {
            let other = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
            let result = await TestCalls.call(other, "Echo", [[9]])
            await other.close()
            if result.status.code == .unavailable {
                refused = true
                break
            }
            try await Task.sleep(for: .milliseconds(5))  // pacing only
        }
        #expect(refused)
        // The in-flight call goes on and finishes normally.
        try await stream.send([2], endStream: true)
        let rest = await TestCalls.readAll(stream)
        #expect(rest.messages == [[2]])
        #expect(rest.status.code == .ok, "\(rest.status)")
        await shutdown.value
        await client.close()
    }

    @Test func closedTransportFailsNewStreams() async throws {
        let server = try await TestServer.start()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        #expect(await TestCalls.call(client, "Echo", [[1]]).status.code == .ok)
        await client.close()
        let after = await TestCalls.call(client, "Echo", [[1]])
        #expect(after.status.code == .unavailable)
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func connectTimeoutWhenServerNeverSpeaksHTTP2() async throws {
        // A socket that listens but never accepts: TCP connects, SETTINGS never come.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Bool in
                bind(fd, p, len) == 0 && listen(fd, 4) == 0 && getsockname(fd, p, &len) == 0
            }
        }
        #expect(bound)
        let port = Int(UInt16(bigEndian: addr.sin_port))
        let client = HTTP2ClientTransport(
            host: "127.0.0.1", port: port, configuration: .init(connectTimeout: .milliseconds(200)))
        let start = ContinuousClock.now
        let result = await TestCalls.call(client, "Echo", [[1]])
        #expect(result.status.code == .unavailable)
        #expect(result.status.message.contains("timed out"), "\(result.status)")
        #expect(result.status.message.contains("127.0.0.1:\(port)"), "\(result.status)")
        #expect(result.end?.neverReachedServer == true)
        // A safety bound, not a measurement: far below "never", with room for a loaded 2-core CI machine.
        #expect(start.duration(to: .now) < .seconds(10))
        await client.close()
    }

    @Test func deadlineWhileWaitingForConnection() async throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Bool in
                bind(fd, p, len) == 0 && listen(fd, 4) == 0 && getsockname(fd, p, &len) == 0
            }
        }
        let port = Int(UInt16(bigEndian: addr.sin_port))
        let client = HTTP2ClientTransport(
            host: "127.0.0.1", port: port, configuration: .init(connectTimeout: .seconds(5)), group: EventLoopGroup(numberOfLoops: 1))
        let deadline = ContinuousClock.now + .milliseconds(100)
        let result = await TestCalls.call(client, "Echo", [[1]], deadline: deadline)
        #expect(result.status.code == .deadlineExceeded)
        #expect(result.end?.neverReachedServer == true)
        // Ends at the deadline, not at the 5 s connect timeout (a loose bound: 2 shared cores under test
        // load; the deadline's precision is measured by the benchmark, not here).
        #expect(deadline.duration(to: .now) < .seconds(3))
        await client.close()
    }

    @Test func afterGoAwayNewStreamsUseANewConnection() async throws {
        let first = try await TestServer.start()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: first.port)
        let inFlight = await client.makeStream(head: ClientRequestHead(method: TestCalls.method("Echo")))
        try await inFlight.send([1], endStream: false)
        var echoed = false
        while !echoed, let event = await inFlight.next() {
            if case .message = event { echoed = true }
        }
        let shutdown = Task { await first.transport.shutdownGracefully(gracePeriod: .seconds(10)) }
        // The old listener is closed first; a new server takes the port while the old connection drains.
        var second: TestServer?
        for _ in 0..<200 {
            if let started = try? await TestServer.start(port: first.port) {
                second = started
                break
            }
            try await Task.sleep(for: .milliseconds(5))  // pacing only
        }
        let next = try #require(second)
        // Once the client has seen GOAWAY, new calls go to a new connection, to the new server.
        var landedOnNewServer = false
        for _ in 0..<200 {
            let result = await TestCalls.call(client, "Echo", [[3]])
            #expect(result.status.code == .ok, "\(result.status)")
            if next.dispatcher.acceptedCount > 0 {
                landedOnNewServer = true
                break
            }
            try await Task.sleep(for: .milliseconds(5))  // pacing only
        }
        #expect(landedOnNewServer)
        // The old stream still finishes on the old connection.
        try await inFlight.send([2], endStream: true)
        let rest = await TestCalls.readAll(inFlight)
        #expect(rest.messages == [[2]])
        #expect(rest.status.code == .ok, "\(rest.status)")
        await shutdown.value
        await client.close()
        await next.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }
}
