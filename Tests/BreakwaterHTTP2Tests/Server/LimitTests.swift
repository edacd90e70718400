import BreakwaterCore
import BreakwaterWire
import BreakwaterHTTP2
import BreakwaterTestSupport
import Testing

@Suite(.timeLimit(.minutes(TestTime.minutes(1)))) struct LimitTests {
    @Test func responseOverClientReceiveLimit() async throws {
        let server = try await TestServer.start()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        let result = await TestCalls.call(client, "Echo", [[UInt8](repeating: 1, count: 2000)], maxReceive: 1000)
        #expect(result.status.code == .resourceExhausted, "\(result.status)")
        // The connection is still fine.
        let ok = await TestCalls.call(client, "Echo", [[1]])
        #expect(ok.status.code == .ok)
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func requestOverServerReceiveLimit() async throws {
        let server = try await TestServer.start(configuration: .init(maxReceiveMessageBytes: 1000))
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        let result = await TestCalls.call(client, "Echo", [[UInt8](repeating: 1, count: 2000)])
        #expect(result.status.code == .resourceExhausted, "\(result.status)")
        let ok = await TestCalls.call(client, "Echo", [[UInt8](repeating: 1, count: 1000)])
        #expect(ok.status.code == .ok)
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func wrongContentTypeGets415() async throws {
        let server = try await TestServer.start()
        let response = try RawHTTP2Client.request(
            port: server.port, path: "/test.Echo/Echo",
            headers: [("content-type", "text/plain"), ("te", "trailers")], body: [0, 0, 0, 0, 1, 9])
        #expect(response.status == 415)
        #expect(response.grpcStatus == nil)
        let ok = try RawHTTP2Client.request(
            port: server.port, path: "/test.Echo/Echo",
            headers: [("content-type", "application/grpc"), ("te", "trailers")], body: [0, 0, 0, 0, 1, 9])
        #expect(ok.status == 200)
        #expect(ok.grpcStatus == "0")
        #expect(ok.body == [0, 0, 0, 0, 1, 9])
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func partialMessageAtEndOfRequestIsInternal() async throws {
        let server = try await TestServer.start()
        let response = try RawHTTP2Client.request(
            port: server.port, path: "/test.Echo/Echo",
            headers: [("content-type", "application/grpc"), ("te", "trailers")], body: [0, 0, 0, 0, 5, 1, 2])
        #expect(response.status == 200)
        #expect(response.grpcStatus == String(Status.Code.internalError.rawValue))
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func wrongMethodGets405AndOversizedHeadersAreRejected() async throws {
        let server = try await TestServer.start()
        let big = String(repeating: "x", count: 20_000)
        let oversized = try RawHTTP2Client.request(
            port: server.port, path: "/test.Echo/Echo",
            headers: [("content-type", "application/grpc"), ("te", "trailers"), ("x-big", big)], body: [0, 0, 0, 0, 0])
        // Abandoned while it is decoded: RST_STREAM ENHANCE_YOUR_CALM, which gRPC clients read as
        // RESOURCE_EXHAUSTED; no response headers.
        #expect(oversized.status == nil)
        #expect(oversized.closeCode == StatusMapping.HTTP2ErrorCode.enhanceYourCalm.rawValue)
        let ok = try RawHTTP2Client.request(
            port: server.port, path: "/test.Echo/Echo",
            headers: [("content-type", "application/grpc"), ("te", "trailers"), ("x-small", "y")], body: [0, 0, 0, 0, 0])
        #expect(ok.grpcStatus == "0")
        let get = try RawHTTP2Client.request(
            port: server.port, path: "/test.Echo/Echo", method: "GET",
            headers: [("content-type", "application/grpc"), ("te", "trailers")], body: [])
        #expect(get.status == 405)
        #expect(get.grpcStatus == nil)
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }
}
