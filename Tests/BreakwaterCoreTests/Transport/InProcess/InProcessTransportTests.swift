import BreakwaterCore
import BreakwaterTestSupport
import Synchronization
import Testing

@Suite("InProcessTransport", .timeLimit(.minutes(TestTime.minutes(1))))
struct InProcessTransportTests {
    /// Starts a server end that hands each accepted stream to the returned stream.
    private func serve(_ transport: InProcessTransport) async throws -> AsyncStream<any ServerTransportStream> {
        let (streams, continuation) = AsyncStream.makeStream(of: (any ServerTransportStream).self)
        _ = try await transport.server.start { continuation.yield($0) }
        return streams
    }

    @Test func streamBeforeTheServerStartsIsUnavailable() async {
        let transport = InProcessTransport()
        let stream = await transport.client.makeStream(head: ClientRequestHead(method: TestMethods.unary))
        guard case .end(let end)? = await stream.next() else {
            Issue.record("expected an end")
            return
        }
        #expect(end.status.code == .unavailable)
        #expect(end.neverReachedServer)
    }

    @Test func messagesMetadataAndTrailersFlowBothWays() async throws {
        let transport = InProcessTransport()
        var accepted = try await serve(transport).makeAsyncIterator()
        let client = await transport.client.makeStream(
            head: ClientRequestHead(method: TestMethods.unary, metadata: ["k": "v"]))
        let server = try #require(await accepted.next())
        #expect(server.head.path == "/test.Test/Unary")
        #expect(server.head.metadata.firstString(forKey: "k") == "v")
        try await client.send([1], endStream: true)
        #expect(try await server.receive() == [1])
        #expect(try await server.receive() == nil)
        try await server.sendHeaders(["h": "1"])
        try await server.send([2])
        server.finish(status: .ok, trailers: ["t": "2"])
        guard case .headers(let headers)? = await client.next() else { Issue.record("headers"); return }
        #expect(headers.firstString(forKey: "h") == "1")
        guard case .message(let message)? = await client.next() else { Issue.record("message"); return }
        #expect(message == [2])
        guard case .end(let end)? = await client.next() else { Issue.record("end"); return }
        #expect(end.status == .ok)
        #expect(end.trailers.firstString(forKey: "t") == "2")
        #expect(await client.next() == nil)
    }

    @Test func deadlineEndsTheStreamAndRunsOnCancel() async throws {
        let transport = InProcessTransport()
        var accepted = try await serve(transport).makeAsyncIterator()
        let client = await transport.client.makeStream(
            head: ClientRequestHead(method: TestMethods.unary, deadline: .now.advanced(by: .milliseconds(20))))
        let server = try #require(await accepted.next())
        let cancelled = Signal()
        server.onCancel { cancelled.fire() }
        guard case .end(let end)? = await client.next() else { Issue.record("end"); return }
        #expect(end.status.code == .deadlineExceeded)
        await cancelled.wait()
        let error = await #expect(throws: RPCError.self) { _ = try await server.receive() }
        #expect(error?.code == .deadlineExceeded)
    }

    @Test func anEarlierDeadlineArmedAfterALaterOneEndsItsStreamAloneAndOnTime() async throws {
        // The transport enforces every stream's deadline with one task; a stream with an earlier deadline
        // than the one it sleeps until must wake it sooner, and must not end the other stream.
        let transport = InProcessTransport()
        var accepted = try await serve(transport).makeAsyncIterator()
        let patient = await transport.client.makeStream(
            head: ClientRequestHead(method: TestMethods.unary, deadline: .now.advanced(by: .seconds(60))))
        let patientServer = try #require(await accepted.next())
        let started = ContinuousClock.now
        let hasty = await transport.client.makeStream(
            head: ClientRequestHead(method: TestMethods.unary, deadline: .now.advanced(by: .milliseconds(30))))
        _ = try #require(await accepted.next())
        guard case .end(let end)? = await hasty.next() else { Issue.record("end"); return }
        #expect(end.status.code == .deadlineExceeded)
        // Ended by its own deadline, not when the keeper woke for the patient stream's (60 s).
        #expect(ContinuousClock.now - started < .seconds(10))
        // The patient stream is still open both ways.
        try await patientServer.sendHeaders([:])
        patientServer.finish(status: .ok, trailers: [:])
        guard case .headers? = await patient.next() else { Issue.record("headers"); return }
        guard case .end(let patientEnd)? = await patient.next() else { Issue.record("patient end"); return }
        #expect(patientEnd.status == .ok)
    }

    @Test func clientCancelRunsOnCancelAndEndsCancelled() async throws {
        let transport = InProcessTransport()
        var accepted = try await serve(transport).makeAsyncIterator()
        let client = await transport.client.makeStream(head: ClientRequestHead(method: TestMethods.unary))
        let server = try #require(await accepted.next())
        let cancelled = Signal()
        server.onCancel { cancelled.fire() }
        client.cancel()
        await cancelled.wait()
        guard case .end(let end)? = await client.next() else { Issue.record("end"); return }
        #expect(end.status.code == .cancelled)
        await #expect(throws: RPCError.self) { try await server.send([1]) }
    }

    @Test func oversizedRequestIsResourceExhausted() async throws {
        let transport = InProcessTransport(maxRequestMessageBytes: 4)
        var accepted = try await serve(transport).makeAsyncIterator()
        let client = await transport.client.makeStream(head: ClientRequestHead(method: TestMethods.unary))
        let server = try #require(await accepted.next())
        await #expect(throws: RPCError.self) { try await client.send([1, 2, 3, 4, 5], endStream: true) }
        guard case .end(let end)? = await client.next() else { Issue.record("end"); return }
        #expect(end.status.code == .resourceExhausted)
        let error = await #expect(throws: RPCError.self) { _ = try await server.receive() }
        #expect(error?.code == .resourceExhausted)
    }
}
