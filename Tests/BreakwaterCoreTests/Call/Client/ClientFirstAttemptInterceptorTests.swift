import BreakwaterCore
import BreakwaterTestSupport
import Testing

/// Prepares first attempts: limits the request to `sendLimit` bytes (so that the transport refuses a longer
/// one), marks the answered response, and on failure retries once through `next` without the limit.
/// `decline` makes it return `nil` (the client must then call `intercept`); `reject` makes it throw.
struct PreparingInterceptor: ClientFirstAttemptInterceptor {
    let log: Log
    var sendLimit = 1_000
    var decline = false
    var reject = false

    struct Attempt: ClientFirstAttempt {
        let log: Log

        func answered(_ response: consuming ClientResponse, context: ClientContext) -> ClientResponse {
            log.append("answered limit=\(context.options.maxSendMessageBytes ?? -1)")
            response.metadata.addString("answered", forKey: "x-first-attempt")
            return response
        }

        func failed(
            _ error: any Error, request: ClientRequest, context: ClientContext,
            next: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
        ) async throws -> ClientResponse {
            log.append("failed \((error as? RPCError)?.code.description ?? "\(error)")")
            var retry = context
            retry.options.maxSendMessageBytes = nil
            var response = try await next(request, retry)
            response.metadata.addString("retried", forKey: "x-first-attempt")
            return response
        }
    }

    func prepareFirstAttempt(_ context: inout ClientContext) throws -> (any ClientFirstAttempt)? {
        log.append("prepare")
        if reject { throw RPCError(code: .unavailable, message: "rejected in prepare") }
        if decline { return nil }
        context.options.maxSendMessageBytes = sendLimit
        return Attempt(log: log)
    }

    func intercept(
        request: ClientRequest, context: ClientContext,
        next: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        log.append("intercept limit=\(context.options.maxSendMessageBytes ?? -1)")
        return try await next(request, context)
    }
}

/// The client makes the first attempt of a `ClientFirstAttemptInterceptor` that is its whole chain, over
/// the in-process transport: the prepared context reaches the transport, the attempt learns how it ended,
/// and `intercept` runs only where the interceptor declines or is not alone.
@Suite("Client first-attempt interceptors", .timeLimit(.minutes(TestTime.minutes(1))))
struct ClientFirstAttemptInterceptorTests {
    @Test("the whole chain: prepared, made by the client with the prepared context, answered")
    func answeredWithThePreparedContext() async throws {
        let log = Log()
        try await withClientAndServer(clientInterceptors: [.apply(PreparingInterceptor(log: log), to: .all)]) { client, service in
            let response = try await client.unaryString("hello")
            #expect(response.message == "hello")
            #expect(response.metadata[stringValues: "x-first-attempt"] == ["answered"])
            #expect(service.requests.all == ["hello"])
        }
        #expect(log.all == ["prepare", "answered limit=1000"])
    }

    @Test("a failed first attempt goes to the attempt, which makes the next one through the transport")
    func failedAttemptRetriesThroughNext() async throws {
        let log = Log()
        let interceptor = PreparingInterceptor(log: log, sendLimit: 2)
        try await withClientAndServer(clientInterceptors: [.apply(interceptor, to: .all)]) { client, service in
            // Five bytes over a limit of two: the transport refuses the prepared attempt before sending it.
            let response = try await client.unaryString("hello")
            #expect(response.message == "hello")
            #expect(response.metadata[stringValues: "x-first-attempt"] == ["retried"])
            #expect(service.requests.all == ["hello"])
        }
        #expect(log.all == ["prepare", "failed RESOURCE_EXHAUSTED"])
    }

    @Test("a declined call goes through intercept with the caller's context")
    func declinedCallIsIntercepted() async throws {
        let log = Log()
        let interceptor = PreparingInterceptor(log: log, decline: true)
        try await withClientAndServer(clientInterceptors: [.apply(interceptor, to: .all)]) { client, _ in
            let response = try await client.unaryString("hello")
            #expect(response.metadata[stringValues: "x-first-attempt"].isEmpty)
        }
        #expect(log.all == ["prepare", "intercept limit=-1"])
    }

    @Test("what prepare throws fails the call before the transport sees it")
    func thrownFromPrepare() async throws {
        let log = Log()
        let interceptor = PreparingInterceptor(log: log, reject: true)
        try await withClientAndServer(clientInterceptors: [.apply(interceptor, to: .all)]) { client, service in
            let error = await #expect(throws: RPCError.self) { try await client.unaryString("hello") }
            #expect(error?.code == .unavailable)
            #expect(error?.message == "rejected in prepare")
            #expect(service.requests.all.isEmpty)
        }
        #expect(log.all == ["prepare"])
    }

    @Test("behind another interceptor, or scoped, it is intercepted like any other")
    func notAloneIsIntercepted() async throws {
        let log = Log()
        let chains: [[ConditionalInterceptor<any ClientInterceptor>]] = [
            [.apply(RecordingInterceptor(name: "outer", log: log), to: .all), .apply(PreparingInterceptor(log: log), to: .all)],
            [.apply(PreparingInterceptor(log: log), to: .methods([TestMethods.unary]))],
        ]
        for chain in chains {
            try await withClientAndServer(clientInterceptors: chain) { client, _ in
                let response = try await client.unaryString("hello")
                #expect(response.message == "hello")
            }
        }
        #expect(log.all == ["outer", "intercept limit=-1", "intercept limit=-1"])
    }
}
