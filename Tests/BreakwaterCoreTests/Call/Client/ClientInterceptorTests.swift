import BreakwaterCore
import BreakwaterTestSupport
import Testing

/// Records the order in which interceptors are entered.
struct RecordingInterceptor: ClientInterceptor {
    let name: String
    let log: Log

    func intercept(
        request: ClientRequest,
        context: ClientContext,
        next: @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        log.append(name)
        return try await next(request, context)
    }
}

/// Calls `next` twice, draining and discarding the first response; records whether the request was
/// replayable before the second attempt.
struct TwiceInterceptor: ClientInterceptor {
    let replayable = Log()

    func intercept(
        request: ClientRequest,
        context: ClientContext,
        next: @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        let first = try await next(request, context)
        for try await _ in first.body {}
        replayable.append("\(request.messages.isReplayable)")
        return try await next(request, context)
    }
}

/// Records the committed flag after the call returned.
struct CommitProbe: ClientInterceptor {
    let log = Log()

    func intercept(
        request: ClientRequest,
        context: ClientContext,
        next: @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        let response = try await next(request, context)
        var parts: [ClientResponsePart] = []
        for try await part in response.body { parts.append(part) }
        log.append("committed=\(request.messages.isCommitted)")
        return ClientResponse(metadata: response.metadata, body: .init(parts: parts))
    }
}

@Suite("Client interceptors", .timeLimit(.minutes(TestTime.minutes(1))))
struct ClientInterceptorTests {
    @Test func interceptorsRunInArrayOrderOutermostFirst() async throws {
        let log = Log()
        let interceptors: [ConditionalInterceptor<any ClientInterceptor>] = [
            .apply(RecordingInterceptor(name: "a", log: log), to: .all),
            .apply(RecordingInterceptor(name: "b", log: log), to: .all),
            .apply(RecordingInterceptor(name: "c", log: log), to: .all),
        ]
        try await withClientAndServer(clientInterceptors: interceptors) { client, _ in
            _ = try await client.unaryString("x")
        }
        #expect(log.all == ["a", "b", "c"])
    }

    @Test func scopingSelectsInterceptorsPerMethod() async throws {
        let log = Log()
        let interceptors: [ConditionalInterceptor<any ClientInterceptor>] = [
            .apply(RecordingInterceptor(name: "all", log: log), to: .all),
            .apply(RecordingInterceptor(name: "service", log: log), to: .services([TestMethods.service])),
            .apply(RecordingInterceptor(name: "other-service", log: log), to: .services(["other.Service"])),
            .apply(RecordingInterceptor(name: "unary-only", log: log), to: .methods([TestMethods.unary])),
        ]
        try await withClientAndServer(clientInterceptors: interceptors) { client, _ in
            _ = try await client.unaryString("x")
            #expect(log.all == ["all", "service", "unary-only"])
            let stream = try await client.serverStreaming(
                request: "a", method: TestMethods.serverStreaming, serializer: StringSerializer(),
                deserializer: StringDeserializer())
            for try await _ in stream {}
            #expect(log.all == ["all", "service", "unary-only", "all", "service"])
        }
    }

    @Test func callingNextTwiceReplaysAUnaryRequest() async throws {
        let twice = TwiceInterceptor()
        try await withClientAndServer(clientInterceptors: [.apply(twice, to: .all)]) { client, service in
            let response = try await client.unaryString("again")
            #expect(response.message == "again")
            #expect(service.requests.all == ["again", "again"])
        }
        #expect(twice.replayable.all == ["true"])
    }

    @Test func callingNextTwiceReplaysAClientStreamingRequest() async throws {
        let twice = TwiceInterceptor()
        try await withClientAndServer(clientInterceptors: [.apply(twice, to: .all)]) { client, service in
            let joined = try await client.clientStreaming(
                method: TestMethods.clientStreaming, serializer: StringSerializer(),
                deserializer: StringDeserializer()
            ) { writer in
                for part in ["p", "q", "r"] { try await writer.write(part) }
            }
            #expect(joined == "p,q,r")
            #expect(service.requests.all == ["p,q,r", "p,q,r"])
        }
        #expect(twice.replayable.all == ["true"])
    }

    @Test func overflowingTheRetryBufferCommitsTheRequest() async throws {
        let probe = CommitProbe()
        try await withClientAndServer(clientInterceptors: [.apply(probe, to: .all)], retryBufferBytes: 10) {
            client, _ in
            let joined = try await client.clientStreaming(
                method: TestMethods.clientStreaming, serializer: StringSerializer(),
                deserializer: StringDeserializer()
            ) { writer in
                for part in ["12345678", "abcdefgh", "ABCDEFGH"] { try await writer.write(part) }
            }
            #expect(joined == "12345678,abcdefgh,ABCDEFGH")
            _ = try await client.clientStreaming(
                method: TestMethods.clientStreaming, serializer: StringSerializer(),
                deserializer: StringDeserializer()
            ) { writer in
                try await writer.write("small")
            }
        }
        #expect(probe.log.all == ["committed=true", "committed=false"])
    }

    @Test func aCommittedRequestCannotBeReplayed() async throws {
        let twice = TwiceInterceptor()
        try await withClientAndServer(clientInterceptors: [.apply(twice, to: .all)], retryBufferBytes: 4) {
            client, _ in
            let error = await #expect(throws: RPCError.self) {
                _ = try await client.clientStreaming(
                    method: TestMethods.clientStreaming, serializer: StringSerializer(),
                    deserializer: StringDeserializer()
                ) { writer in
                    for part in ["12345678", "abcdefgh"] { try await writer.write(part) }
                }
            }
            #expect(error?.code == .internalError)
        }
        #expect(twice.replayable.all == ["false"])
    }

    @Test func anInterceptorCanAnswerWithoutCallingNext() async throws {
        struct Fallback: ClientInterceptor {
            func intercept(
                request: ClientRequest, context: ClientContext,
                next: @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
            ) async throws -> ClientResponse {
                ClientResponse(metadata: ["x-fallback": "yes"], messages: [Array("cached".utf8)])
            }
        }
        try await withClientAndServer(clientInterceptors: [.apply(Fallback(), to: .all)]) { client, service in
            let response = try await client.unaryString("x")
            #expect(response.message == "cached")
            #expect(response.metadata.firstString(forKey: "x-fallback") == "yes")
            #expect(service.requests.all.isEmpty)
        }
    }

    @Test func trailersOnlyErrorIsThrownByNext() async throws {
        struct SeeError: ClientInterceptor {
            let log: Log
            func intercept(
                request: ClientRequest, context: ClientContext,
                next: @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
            ) async throws -> ClientResponse {
                do {
                    return try await next(request, context)
                } catch let error as RPCError {
                    log.append(error.code.name)
                    throw error
                }
            }
        }
        let log = Log()
        try await withClientAndServer(clientInterceptors: [.apply(SeeError(log: log), to: .all)]) { client, _ in
            await #expect(throws: RPCError.self) { _ = try await client.unaryString("x", method: TestMethods.fail) }
        }
        #expect(log.all == ["NOT_FOUND"])
    }
}
