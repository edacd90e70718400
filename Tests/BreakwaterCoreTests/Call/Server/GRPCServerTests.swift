import BreakwaterCore
import BreakwaterTestSupport
import Testing

/// Rejects calls without an `authorization` header; tags accepted calls with a response header.
struct AuthInterceptor: ServerInterceptor {
    let seen = Log()

    func intercept(
        request: ServerRequest, context: ServerContext,
        next: @Sendable (ServerRequest, ServerContext) async throws -> Void
    ) async throws {
        seen.append("\(context.descriptor.method):\(request.metadata.firstString(forKey: "authorization") ?? "-")")
        guard request.metadata.firstString(forKey: "authorization") == "Bearer ok" else {
            throw RPCError(code: .unauthenticated, message: "missing credentials")
        }
        context.responseHeaders.addString("yes", forKey: "x-authorized")
        try await next(request, context)
    }
}

@Suite("GRPCServer", .timeLimit(.minutes(TestTime.minutes(1))))
struct GRPCServerTests {
    @Test func unknownMethodIsUnimplemented() async throws {
        try await withClientAndServer { client, _ in
            let error = await #expect(throws: RPCError.self) {
                _ = try await client.unaryString("x", method: MethodDescriptor(service: TestMethods.service, method: "Nope"))
            }
            #expect(error?.code == .unimplemented)
            #expect(error?.message == "method /test.Test/Nope not implemented")
        }
    }

    @Test func unknownServiceIsUnimplemented() async throws {
        try await withClientAndServer { client, _ in
            let error = await #expect(throws: RPCError.self) {
                _ = try await client.unaryString("x", method: MethodDescriptor(service: "no.Such", method: "Unary"))
            }
            #expect(error?.code == .unimplemented)
            #expect(error?.message == "method /no.Such/Unary not implemented")
        }
    }

    @Test func serverInterceptorSeesMetadataAndCanReject() async throws {
        let auth = AuthInterceptor()
        try await withClientAndServer(serverInterceptors: [auth]) { client, service in
            let error = await #expect(throws: RPCError.self) { _ = try await client.unaryString("x") }
            #expect(error?.code == .unauthenticated)
            #expect(service.requests.all.isEmpty)

            let response = try await client.unaryString("y", metadata: ["authorization": "Bearer ok"])
            #expect(response.message == "y")
            #expect(response.metadata.firstString(forKey: "x-authorized") == "yes")
            #expect(service.requests.all == ["y"])
        }
        #expect(auth.seen.all == ["Unary:-", "Unary:Bearer ok"])
    }

    @Test func undecodableRequestIsInvalidArgument() async throws {
        try await withClientAndServer { client, service in
            let error = await #expect(throws: RPCError.self) {
                let response = try await client.execute(
                    request: ClientRequest(message: [0xFF, 0xFE]), method: TestMethods.unary, kind: .unary)
                for try await _ in response.body {}
            }
            #expect(error?.code == .invalidArgument)
            #expect(service.requests.all.isEmpty)
        }
    }

    @Test func unaryWithTwoRequestMessagesIsInternal() async throws {
        try await withClientAndServer { client, service in
            let error = await #expect(throws: RPCError.self) {
                let response = try await client.execute(
                    request: ClientRequest(messages: RequestMessages(messages: [Array("a".utf8), Array("b".utf8)])),
                    method: TestMethods.unary, kind: .unary)
                for try await _ in response.body {}
            }
            #expect(error?.code == .internalError)
            #expect(service.requests.all.isEmpty)
        }
    }

    @Test func unaryWithoutARequestMessageIsInternal() async throws {
        try await withClientAndServer { client, _ in
            let error = await #expect(throws: RPCError.self) {
                let response = try await client.execute(
                    request: ClientRequest(messages: RequestMessages(messages: [])), method: TestMethods.unary, kind: .unary)
                for try await _ in response.body {}
            }
            #expect(error?.code == .internalError)
        }
    }

    @Test func gracefulShutdownCancelsHandlersAfterTheGracePeriod() async throws {
        let transport = InProcessTransport()
        let service = TestService()
        let server = GRPCServer(transport: transport.server, services: [service])
        _ = try await server.start()
        let client = GRPCClient(transport: transport.client)
        let call = Task { try await client.unaryString("x", method: TestMethods.hang) }
        await service.handlerStarted.wait()
        await server.shutdownGracefully(gracePeriod: .milliseconds(10))
        #expect(server.activeCalls == 0)
        #expect(service.handlerCancelled.fired)
        let error = await #expect(throws: RPCError.self) { _ = try await call.value }
        #expect(error?.code == .unavailable)
        // New calls are refused.
        let refused = await #expect(throws: RPCError.self) { _ = try await client.unaryString("x") }
        #expect(refused?.code == .unavailable)
    }
}
