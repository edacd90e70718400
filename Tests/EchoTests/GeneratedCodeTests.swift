import BreakwaterCore
import EchoService
import Testing

/// A full-form implementation of `echo.Echo`: every handler gets the request metadata as an argument and
/// returns its response metadata, as the generated `ServiceProtocol` asks.
private struct MetadataEcho: Echo_Echo.ServiceProtocol {
    func get(
        request: Echo_EchoRequest, metadata: Metadata, context: ServerContext
    ) async throws -> UnaryResponse<Echo_EchoResponse> {
        UnaryResponse(
            message: .with { $0.text = request.text },
            metadata: ["x-seen": .string(metadata.firstString(forKey: "x-in") ?? "none")],
            trailers: ["x-done": "get"]
        )
    }

    func expand(
        request: Echo_EchoRequest, metadata: Metadata, context: ServerContext
    ) async throws -> StreamingResponse<Echo_EchoResponse> {
        StreamingResponse(metadata: ["x-seen": .string(metadata.firstString(forKey: "x-in") ?? "none")]) { writer in
            for word in request.text.split(separator: " ") {
                try await writer.write(.with { $0.text = String(word) })
            }
            return ["x-done": "expand"]
        }
    }

    func collect(
        requests: RequestStream<Echo_EchoRequest>, metadata: Metadata, context: ServerContext
    ) async throws -> UnaryResponse<Echo_EchoResponse> {
        var texts: [String] = []
        for try await request in requests { texts.append(request.text) }
        return UnaryResponse(message: .with { $0.text = texts.joined(separator: "+") }, trailers: ["x-count": .string("\(texts.count)")])
    }

    func update(
        requests: RequestStream<Echo_EchoRequest>, metadata: Metadata, context: ServerContext
    ) async throws -> StreamingResponse<Echo_EchoResponse> {
        StreamingResponse(metadata: ["x-mode": "update"]) { writer in
            for try await request in requests { try await writer.write(.with { $0.text = request.text.uppercased() }) }
            return ["x-done": "update"]
        }
    }
}

@Suite("Generated echo code: descriptors and the full-form service protocol", .timeLimit(.minutes(1)))
struct GeneratedCodeTests {
    @Test func descriptorsNameTheMethodsAndTheirShapes() {
        #expect(Echo_Echo.serviceName == "echo.Echo")
        #expect(Echo_Echo.Method.descriptors.map(\.path) == ["/echo.Echo/Get", "/echo.Echo/Expand", "/echo.Echo/Collect", "/echo.Echo/Update"])
        #expect(Echo_Echo.Method.Get.kind == .unary)
        #expect(Echo_Echo.Method.Expand.kind == .serverStreaming)
        #expect(Echo_Echo.Method.Collect.kind == .clientStreaming)
        #expect(Echo_Echo.Method.Update.kind == .bidirectionalStreaming)
        #expect(Echo_Echo.fileDescriptorProtos.count == 1)
    }

    @Test func fullFormCarriesMetadataBothWays() async throws {
        let transport = InProcessTransport()
        let server = GRPCServer(transport: transport.server, services: [MetadataEcho()])
        _ = try await server.start()
        let grpc = GRPCClient(transport: transport.client)
        let echo = Echo_Echo.Client(wrapping: grpc)
        do {
            try await exercise(echo)
        } catch {
            await grpc.close()
            await server.shutdownGracefully(gracePeriod: .seconds(1))
            throw error
        }
        await grpc.close()
        await server.shutdownGracefully(gracePeriod: .seconds(1))
    }

    private func exercise(_ echo: Echo_Echo.Client) async throws {
        let unary = try await echo.getWithMetadata(request("hi"), metadata: ["x-in": "one"])
        #expect(unary.message.text == "hi")
        #expect(unary.metadata.firstString(forKey: "x-seen") == "one")
        #expect(unary.trailers.firstString(forKey: "x-done") == "get")

        let stream = try await echo.expand(request("a b"), metadata: ["x-in": "two"])
        #expect(try await stream.metadata.firstString(forKey: "x-seen") == "two")
        var words: [String] = []
        for try await response in stream { words.append(response.text) }
        #expect(words == ["a", "b"])
        #expect(stream.trailers?.firstString(forKey: "x-done") == "expand")

        let collected = try await echo.collectWithMetadata { writer in
            try await writer.write(request("x"))
            try await writer.write(request("y"))
        }
        #expect(collected.message.text == "x+y")
        #expect(collected.trailers.firstString(forKey: "x-count") == "2")

        let updates = try await echo.update { writer in
            try await writer.write(request("up"))
        }
        #expect(try await updates.metadata.firstString(forKey: "x-mode") == "update")
        var echoed: [String] = []
        for try await response in updates { echoed.append(response.text) }
        #expect(echoed == ["UP"])
        #expect(updates.trailers?.firstString(forKey: "x-done") == "update")
    }
}
