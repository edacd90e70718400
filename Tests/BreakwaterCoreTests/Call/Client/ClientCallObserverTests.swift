@_spi(Locking) import BreakwaterCore
import BreakwaterTestSupport
import Testing

/// An interceptor whose observer stamps each attempt's metadata with the attempt's number (as `x-echo`,
/// which the test service echoes in its headers and trailers) and records how each attempt ended.
final class AttemptStamper: ClientInterceptor, ClientCallObserver {
    let ends = EndRecorder()
    private let started = TSanMutex<[ClientAttempt]>([])
    private let events = TSanMutex<[String]>([])
    var attempts: [ClientAttempt] { started.withLock { $0 } }
    /// The events in order, `attemptStarting` as `starting`.
    var order: [String] { events.withLock { $0 } }

    func observe(_ event: ClientCallEvent, context: ClientContext) {
        if case .attemptStarted = event { events.withLock { $0.append("attemptStarted") } }
    }

    func attemptStarting(context: ClientContext, metadata: inout Metadata) -> (any ClientResponseObserver)? {
        started.withLock { $0.append(context.attempt) }
        events.withLock { $0.append("starting") }
        metadata.replaceOrAddString("attempt-\(context.attempt.number)", forKey: "x-echo")
        return ends
    }

    func intercept(
        request: ClientRequest, context: ClientContext,
        next: @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        var observed = context
        observed.callObservers.append(self)
        return try await next(request, observed)
    }
}

/// Tries a failed call once more, numbering the second attempt as the retry interceptor does.
struct RetryOnceInterceptor: ClientInterceptor {
    func intercept(
        request: ClientRequest, context: ClientContext,
        next: @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        do {
            return try await next(request, context)
        } catch let error as RPCError {
            var second = context
            second.attempt = ClientAttempt(number: 2, reason: .status(error.code))
            return try await next(request, second)
        }
    }
}

/// An observer that implements only `observe`.
final class EventsOnlyObserver: ClientInterceptor, ClientCallObserver {
    private let count = TSanMutex(0)
    var events: Int { count.withLock { $0 } }

    func observe(_ event: ClientCallEvent, context: ClientContext) { count.withLock { $0 += 1 } }

    func intercept(
        request: ClientRequest, context: ClientContext,
        next: @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        var observed = context
        observed.callObservers.append(self)
        return try await next(request, observed)
    }
}

@Suite("Client call observers: each network attempt's metadata and end", .timeLimit(.minutes(TestTime.minutes(1))))
struct ClientCallObserverTests {
    @Test("an observer adds to the attempt's request metadata before the attempt is reported, and learns its OK end from the body")
    func metadataAndOKEnd() async throws {
        let stamper = AttemptStamper()
        try await withClientAndServer(clientInterceptors: [.apply(stamper, to: .all)]) { client, _ in
            let response = try await client.unaryString("a")
            #expect(response.message == "a")
            #expect(response.metadata.firstString(forKey: "x-echo") == "attempt-1")
        }
        #expect(stamper.attempts == [.first])
        #expect(stamper.order == ["starting", "attemptStarted"])
        #expect(stamper.ends.all == ["trailers(attempt-1)"])
    }

    @Test("each attempt of a retried call is told its own end, with the number its context carries")
    func failedAttempts() async throws {
        let stamper = AttemptStamper()
        try await withClientAndServer(
            clientInterceptors: [.apply(stamper, to: .all), .apply(RetryOnceInterceptor(), to: .all)]
        ) { client, _ in
            await #expect(throws: RPCError.self) { _ = try await client.unaryString("x", method: TestMethods.fail) }
        }
        #expect(stamper.attempts == [.first, ClientAttempt(number: 2, reason: .status(.notFound))])
        let notFound = Status.Code.notFound.description
        #expect(stamper.ends.all == ["error(\(notFound))", "error(\(notFound))"])
    }

    @Test("a streaming attempt's end comes when its body ends, and abandoned when the body is dropped first")
    func streamingEnds() async throws {
        let stamper = AttemptStamper()
        try await withClientAndServer(clientInterceptors: [.apply(stamper, to: .all)]) { client, service in
            let drained = try await client.execute(
                request: ClientRequest(message: Array("a,b".utf8)), method: TestMethods.serverStreaming,
                kind: .serverStreaming)
            #expect(stamper.ends.all.isEmpty)
            for try await _ in drained.body {}
            #expect(stamper.ends.all == ["trailers(attempt-1)"])

            var dropped: ClientResponse? = try await client.execute(
                request: ClientRequest(message: Array("x".utf8)), method: TestMethods.hangStreaming,
                kind: .serverStreaming)
            await service.handlerStarted.wait()
            #expect(dropped != nil)
            dropped = nil
            #expect(stamper.ends.all == ["trailers(attempt-1)", "abandoned"])
        }
    }

    @Test("an observer that only observes events changes nothing in the attempt's metadata")
    func defaultAttemptStarting() async throws {
        let observer = EventsOnlyObserver()
        try await withClientAndServer(clientInterceptors: [.apply(observer, to: .all)]) { client, _ in
            let response = try await client.unaryString("a", metadata: ["x-echo": "mine"])
            #expect(response.metadata.firstString(forKey: "x-echo") == "mine")
        }
        // attemptStarted, messageSent, messageReceived.
        #expect(observer.events == 3)
    }
}
