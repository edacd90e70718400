@_spi(Locking) import BreakwaterCore
import Testing

/// A response stream takes what its transport stream already has with `nextIfReady()`, and suspends in
/// `next()` only when nothing is there: over the in-process transport, whose server writes land in the
/// client's queue at once.
@Suite struct ResponseStreamPollingTests {
    static let burst = MethodDescriptor(service: "test.Polling", method: "Burst")

    /// Writes the messages of the request ("a,b,c"), fires `written`, waits for `release`, then ends
    /// with OK, or with NOT_FOUND when the request starts with "fail".
    final class BurstService: RegistrableService {
        let written = Signal()
        let release = Signal()

        func registerMethods(with router: inout RPCRouter) {
            router.registerServerStreaming(Self.method, deserializer: StringDeserializer(), serializer: StringSerializer()) {
                [self] request, writer, context in
                let parts = request.split(separator: ",").map(String.init)
                for part in parts.dropFirst(parts.first == "fail" ? 1 : 0) { try await writer.write(part) }
                context.responseTrailers.addString("done", forKey: "x-burst")
                written.fire()
                await release.wait()
                if parts.first == "fail" { throw RPCError(code: .notFound, message: "failed after the messages") }
            }
        }

        static var method: MethodDescriptor { ResponseStreamPollingTests.burst }
    }

    /// Counts how its streams are read; the events come from the wrapped transport unchanged.
    final class CountingTransport: ClientTransport {
        final class Stream: ClientTransportStream {
            let base: any ClientTransportStream
            let waits = TSanMutex(0)
            let polls = TSanMutex(0)

            init(base: any ClientTransportStream) { self.base = base }

            func send(_ message: [UInt8], endStream: Bool) async throws { try await base.send(message, endStream: endStream) }
            func finishSending() { base.finishSending() }
            func next() async -> ClientStreamEvent? {
                waits.withLock { $0 += 1 }
                return await base.next()
            }
            func nextIfReady() -> ClientStreamPoll {
                polls.withLock { $0 += 1 }
                return base.nextIfReady()
            }
            func cancel() { base.cancel() }
        }

        let base: any ClientTransport
        let streams = TSanMutex<[Stream]>([])

        init(base: any ClientTransport) { self.base = base }

        func makeStream(head: ClientRequestHead) async -> any ClientTransportStream {
            let stream = Stream(base: await base.makeStream(head: head))
            streams.withLock { $0.append(stream) }
            return stream
        }

        func close() async { await base.close() }

        var onlyStream: Stream? { streams.withLock { $0.count == 1 ? $0[0] : nil } }
    }

    func withBurst<Result>(_ body: (GRPCClient, BurstService, CountingTransport) async throws -> Result) async throws -> Result {
        let transport = InProcessTransport()
        let service = BurstService()
        let server = GRPCServer(transport: transport.server, services: [service])
        _ = try await server.start()
        let counting = CountingTransport(base: transport.client)
        let client = GRPCClient(transport: counting)
        do {
            let result = try await body(client, service, counting)
            service.release.fire()
            await client.close()
            await server.shutdownGracefully(gracePeriod: .seconds(5))
            return result
        } catch {
            service.release.fire()
            await client.close()
            await server.shutdownGracefully(gracePeriod: .seconds(5))
            throw error
        }
    }

    func call(_ client: GRPCClient, _ request: String) async throws -> ResponseStream<String> {
        try await client.serverStreaming(
            request: request, method: Self.burst, serializer: StringSerializer(), deserializer: StringDeserializer())
    }

    @Test func messagesAlreadyReceivedAreTakenWithoutWaiting() async throws {
        try await withBurst { client, service, transport in
            let words = (0..<50).map { "m\($0)" }
            let stream = try await call(client, words.joined(separator: ","))
            var iterator = stream.makeAsyncIterator()
            await service.written.wait()
            // Every message is in the client's queue now: none of them may cost a wait.
            var received: [String] = []
            for _ in words {
                guard let message = try await iterator.next() else { break }
                received.append(message)
            }
            #expect(received == words)
            let stream0 = try #require(transport.onlyStream)
            // One wait only, the chain's for the response headers.
            #expect(stream0.waits.withLock { $0 } == 1)
            #expect(stream0.polls.withLock { $0 } >= words.count)
            // The end has not come yet: the iterator waits for it, and then ends normally. The server ends
            // only once the iterator is waiting (fired before, its end could be queued before the next poll).
            let releaser = Task {
                while stream0.waits.withLock({ $0 }) < 2 { await Task.yield() }
                service.release.fire()
            }
            #expect(try await iterator.next() == nil)
            await releaser.value
            #expect(stream0.waits.withLock { $0 } == 2)
            #expect(stream.trailers?.firstString(forKey: "x-burst") == "done")
            #expect(try await iterator.next() == nil)
        }
    }

    @Test func anErrorAfterQueuedMessagesComesAfterThem() async throws {
        try await withBurst { client, service, _ in
            let stream = try await call(client, "fail,a,b,c")
            var iterator = stream.makeAsyncIterator()
            await service.written.wait()
            #expect(try await iterator.next() == "a")
            service.release.fire()
            var received = ["a"]
            let error = await #expect(throws: RPCError.self) {
                while let message = try await iterator.next() { received.append(message) }
            }
            #expect(received == ["a", "b", "c"])
            #expect(error?.code == .notFound)
            #expect(error?.message == "failed after the messages")
            #expect(stream.trailers?.firstString(forKey: "x-burst") == "done")
        }
    }

    @Test func theInProcessStreamPollsAsItsNextWouldTake() async throws {
        let transport = InProcessTransport()
        let service = BurstService()
        let server = GRPCServer(transport: transport.server, services: [service])
        _ = try await server.start()
        let stream = await transport.client.makeStream(head: ClientRequestHead(method: Self.burst))
        let before = stream.nextIfReady()
        try await stream.send(Array("x,y".utf8), endStream: true)
        await service.written.wait()
        var polled: [String] = []
        while case .ready(let event?) = stream.nextIfReady() {
            switch event {
            case .headers: polled.append("headers")
            case .message(let bytes): polled.append(String(decoding: bytes, as: UTF8.self))
            case .end: polled.append("end")
            }
        }
        service.release.fire()
        let end = await stream.next()
        let after = stream.nextIfReady()
        let afterNext = await stream.next()
        await server.shutdownGracefully(gracePeriod: .seconds(5))

        if case .notReady = before {} else { Issue.record("an event before the request: \(before)") }
        #expect(polled == ["headers", "x", "y"])
        if case .end(let end)? = end { #expect(end.status.code == .ok) } else { Issue.record("no end: \(String(describing: end))") }
        if case .ready(nil) = after {} else { Issue.record("an event after the end: \(after)") }
        #expect(afterNext == nil)
    }
}
