import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterTestSupport
import Testing

@Suite(.timeLimit(.minutes(TestTime.minutes(1)))) struct UnaryTests {
    @Test func unaryRoundTrip() async throws {
        let server = try await TestServer.start()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        let result = await TestCalls.call(client, "Echo", [Array("hello".utf8)])
        #expect(result.status.code == .ok, "\(result.status)")
        #expect(result.messages == [Array("hello".utf8)])
        #expect(result.headers != nil)
        // A second call reuses the connection.
        let again = await TestCalls.call(client, "Echo", [Array("again".utf8)])
        #expect(again.messages == [Array("again".utf8)])
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func trailersOnlyAndMetadata() async throws {
        let server = try await TestServer.start()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        let result = await TestCalls.call(
            client, "Metadata", [], metadata: ["x-one": "1", "x-bin": .binary([0, 1, 2, 255])])
        #expect(result.status == Status(code: .notFound, message: "nothing here"))
        #expect(result.end?.trailers.firstString(forKey: "x-one") == "1")
        #expect(result.end?.trailers[binaryValues: "x-bin"] == [[0, 1, 2, 255]])
        #expect(result.headers == nil)
        let unknown = await TestCalls.call(client, "Nope", [[1]])
        #expect(unknown.status.code == .unimplemented)
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func handlersRunOnTheStreamsEventLoop() async throws {
        let server = try await TestServer.start()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        let result = await TestCalls.call(client, "OnLoop", [[1]])
        #expect(result.end?.trailers.firstString(forKey: "on-loop") == "true")
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func sendAfterEndStreamThrows() async throws {
        let server = try await TestServer.start()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        let stream = await client.makeStream(head: ClientRequestHead(method: TestCalls.method("Echo")))
        try await stream.send([1], endStream: true)
        await #expect(throws: RPCError.self) { try await stream.send([2], endStream: false) }
        stream.finishSending()
        let result = await TestCalls.readAll(stream)
        #expect(result.messages == [[1]])
        #expect(result.status.code == .ok)
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }
}
