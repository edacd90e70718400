@_spi(Locking) import BreakwaterCore
import BreakwaterTestSupport
import Testing

/// Records every end it is told, as text.
final class EndRecorder: ClientResponseObserver {
    private let ends = TSanMutex<[String]>([])
    var all: [String] { ends.withLock { $0 } }

    func responseEnded(_ end: ClientResponseEnd) {
        let text: String
        switch end {
        case .trailers(let trailers): text = "trailers(\(trailers.firstString(forKey: "trailer-x-echo") ?? trailers.firstString(forKey: "x-echo") ?? "-"))"
        case .error(let error): text = "error(\((error as? RPCError)?.code.description ?? "\(error)"))"
        case .abandoned: text = "abandoned"
        }
        ends.withLock { $0.append(text) }
    }
}

@Suite("Client response observers", .timeLimit(.minutes(TestTime.minutes(1))))
struct ClientResponseObserverTests {
    private func execute(_ client: GRPCClient, _ text: String, _ method: MethodDescriptor, metadata: Metadata = [:]) async throws -> ClientResponse {
        try await client.execute(
            request: ClientRequest(metadata: metadata, message: Array(text.utf8)), method: method,
            kind: method == TestMethods.unary ? .unary : .serverStreaming)
    }

    @Test func transportBodyTellsTheTrailersOnceAndLateObserversAtOnce() async throws {
        try await withClientAndServer { client, _ in
            let early = EndRecorder()
            let response = try await execute(client, "a", TestMethods.unary, metadata: ["x-echo": "t"])
            let body = response.body.notifying(early)
            #expect(early.all.isEmpty)  // nothing ended yet
            var messages = 0
            for try await part in body { if case .message = part { messages += 1 } }
            #expect(messages == 1)
            #expect(early.all == ["trailers(t)"])
            let late = EndRecorder()
            _ = body.notifying(late)
            #expect(late.all == ["trailers(t)"])
            #expect(early.all == ["trailers(t)"])  // still once
        }
    }

    @Test func anErrorAfterTheHeadersIsToldAsTheError() async throws {
        try await withClientAndServer { client, service in
            let recorder = EndRecorder()
            let response = try await execute(client, "x", TestMethods.hangStreaming)
            let body = response.body.notifying(recorder)
            var iterator = body.makeAsyncIterator()
            guard case .message? = try await iterator.next() else {
                Issue.record("expected the first message")
                return
            }
            await service.handlerStarted.wait()
            body.cancel()
            await #expect(throws: RPCError.self) { _ = try await iterator.next() }
            #expect(recorder.all == ["error(CANCELLED)"])
        }
    }

    @Test func aBodyDroppedBeforeItsEndIsAbandoned() async throws {
        try await withClientAndServer { client, _ in
            let recorder = EndRecorder()
            do {
                let response = try await execute(client, "a,b", TestMethods.serverStreaming)
                _ = response.body.notifying(recorder)
            }
            #expect(recorder.all == ["abandoned"])
        }
    }

    @Test func fixedPartsAreToldAtOnce() async throws {
        let ok = EndRecorder()
        _ = ClientResponse(messages: [[1]], trailers: ["x-echo": "fixed"]).body.notifying(ok)
        #expect(ok.all == ["trailers(fixed)"])

        let failed = EndRecorder()
        _ = ClientResponse.Body(parts: [], error: RPCError(code: .aborted, message: "no")).notifying(failed)
        #expect(failed.all == ["error(ABORTED)"])
    }

    @Test func aCustomBodyIsWatchedAsItIsIterated() async throws {
        let recorder = EndRecorder()
        let inner = ClientResponse(messages: [[1], [2]], trailers: ["x-echo": "custom"]).body
        let custom = ClientResponse.Body(inner)
        let body = custom.notifying(recorder)
        #expect(recorder.all.isEmpty)
        var parts = 0
        for try await _ in body { parts += 1 }
        #expect(parts == 3)
        #expect(recorder.all == ["trailers(custom)"])
    }
}
