import BreakwaterCore
import BreakwaterWire
import BreakwaterHTTP2
import BreakwaterTestSupport
import Testing

@Suite(.timeLimit(.minutes(TestTime.minutes(1)))) struct DeadlineAndCancelTests {
    /// Waits for the dispatcher to report a cancellation of `path`.
    static func awaitCancellation(_ server: TestServer, path: String) async -> Bool {
        for await cancelled in server.dispatcher.cancellations.stream where cancelled == path {
            return true
        }
        return false
    }

    @Test func deadlineExceededAgainstHangingHandler() async throws {
        // Own loops, so that the timing does not depend on what other tests run on the shared group.
        let server = try await TestServer.start(group: EventLoopGroup(numberOfLoops: 1))
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port, group: EventLoopGroup(numberOfLoops: 1))
        // Warm the connection so that the deadline measures the call, not the connect.
        _ = await TestCalls.call(client, "Echo", [[0]])
        let deadline = ContinuousClock.now + .milliseconds(200)
        let result = await TestCalls.call(client, "Hang", [[1]], deadline: deadline)
        let late = deadline.duration(to: .now)
        #expect(result.status.code == .deadlineExceeded, "\(result.status)")
        // A safety bound (the call must not wait for the hanging server); how close to the deadline the
        // call ends is measured by the benchmark, since a loaded test run cannot time it fairly.
        #expect(late < .seconds(5), "ended \(late) after the deadline")
        #expect(await Self.awaitCancellation(server, path: "/test.Echo/Hang"))
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func serverEnforcesGRPCTimeout() async throws {
        let server = try await TestServer.start()
        let start = ContinuousClock.now
        let response = try RawHTTP2Client.request(
            port: server.port, path: "/test.Echo/Hang",
            headers: [("content-type", "application/grpc"), ("te", "trailers"), ("grpc-timeout", "100m")],
            body: [0, 0, 0, 0, 1, 9])
        #expect(response.status == 200)
        #expect(response.grpcStatus == String(Status.Code.deadlineExceeded.rawValue))
        #expect(start.duration(to: .now) >= .milliseconds(100))
        #expect(await Self.awaitCancellation(server, path: "/test.Echo/Hang"))
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func clientCancelOfBidiStream() async throws {
        let server = try await TestServer.start()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        let stream = await client.makeStream(head: ClientRequestHead(method: TestCalls.method("Echo")))
        try await stream.send([42], endStream: false)
        var echoed = false
        while !echoed, let event = await stream.next() {
            if case .message(let bytes) = event { echoed = bytes == [42] }
        }
        #expect(echoed)
        stream.cancel()
        let rest = await TestCalls.readAll(stream)
        #expect(rest.status.code == .cancelled)
        #expect(await Self.awaitCancellation(server, path: "/test.Echo/Echo"))
        await #expect(throws: RPCError.self) { try await stream.send([1], endStream: false) }
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func taskCancellationWhileAwaitingNext() async throws {
        let server = try await TestServer.start()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        let stream = await client.makeStream(head: ClientRequestHead(method: TestCalls.method("Hang")))
        try await stream.send([1], endStream: false)
        // Cancel only once the server has the stream: a stream cancelled before its HEADERS left the
        // client never reaches the server, so there would be nothing for it to see (a bounded poll).
        for _ in 0..<2_000 where server.dispatcher.acceptedCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(server.dispatcher.acceptedCount == 1)
        let task = Task { await TestCalls.readAll(stream) }
        task.cancel()
        let result = await task.value
        #expect(result.status.code == .cancelled)
        #expect(await Self.awaitCancellation(server, path: "/test.Echo/Hang"))
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }
}
