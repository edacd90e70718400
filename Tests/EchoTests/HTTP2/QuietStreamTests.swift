@_spi(Locking) import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterProtobuf
import BreakwaterResilience
import BreakwaterTestSupport
import EchoService
import Testing

/// An `echo.Echo` whose streaming handlers stay quiet, as a watch with nothing to report does: they send
/// no response headers (ours, like grpc-go's and grpc-java's servers, send them only with the first
/// message) until they have something to say. `Expand` never says anything; `Update` echoes each request,
/// so its headers wait for the first one.
private final class QuietEcho: Echo_Echo.SimpleServiceProtocol {
    private struct State {
        var started = 0
        var cancelled = 0
        var waiters: [(count: Int, cancellations: Bool, continuation: CheckedContinuation<Void, Never>)] = []

        /// The waiters whose count was reached, removed.
        mutating func ready() -> [CheckedContinuation<Void, Never>] {
            let (started, cancelled) = (self.started, self.cancelled)
            let reached = { (w: (count: Int, cancellations: Bool, continuation: CheckedContinuation<Void, Never>)) in
                w.count <= (w.cancellations ? cancelled : started)
            }
            defer { waiters.removeAll(where: reached) }
            return waiters.filter(reached).map(\.continuation)
        }
    }

    private let state = TSanMutex(State())

    var started: Int { state.withLock { $0.started } }
    var cancelled: Int { state.withLock { $0.cancelled } }

    func get(request: Echo_EchoRequest, context: ServerContext) async throws -> Echo_EchoResponse { request.echoed }

    func expand(
        request: Echo_EchoRequest, response: ResponseWriter<Echo_EchoResponse>, context: ServerContext
    ) async throws {
        try await running {
            while true { try await Task.sleep(for: .seconds(3600)) }
        }
    }

    func collect(requests: RequestStream<Echo_EchoRequest>, context: ServerContext) async throws -> Echo_EchoResponse {
        for try await _ in requests {}
        return Echo_EchoResponse()
    }

    func update(
        requests: RequestStream<Echo_EchoRequest>, response: ResponseWriter<Echo_EchoResponse>,
        context: ServerContext
    ) async throws {
        try await running {
            for try await request in requests { try await response.write(request.echoed) }
        }
    }

    /// Counts the handler as started, and as cancelled when it ends by a cancellation.
    private func running(_ body: () async throws -> Void) async throws {
        count { $0.started += 1 }
        do {
            try await body()
        } catch {
            if Task.isCancelled { count { $0.cancelled += 1 } }
            throw error
        }
    }

    private func count(_ change: (inout State) -> Void) {
        let ready = state.withLock { s in
            change(&s)
            return s.ready()
        }
        for waiter in ready { waiter.resume() }
    }

    /// Returns once at least `count` handlers started (the suite's time limit bounds the wait).
    func waitForStarts(_ count: Int) async { await wait(count, cancellations: false) }

    /// Returns once at least `count` handlers ended by a cancellation.
    func waitForCancellations(_ count: Int) async { await wait(count, cancellations: true) }

    private func wait(_ count: Int, cancellations: Bool) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if count <= (cancellations ? s.cancelled : s.started) { return true }
                s.waiters.append((count, cancellations, c))
                return false
            }
            if now { c.resume() }
        }
    }
}

private extension Echo_EchoRequest {
    var echoed: Echo_EchoResponse { .with { $0.text = text } }
}

/// Server- and bidirectional-streaming calls return their stream at once, before the server has said
/// anything, over real HTTP/2 on loopback against our server: a quiet stream never blocks its caller,
/// and what the call would have thrown comes from the stream.
@Suite("Streaming calls return before the server answers", .timeLimit(.minutes(TestTime.minutes(1))))
struct QuietStreamTests {
    /// A deadline far beyond any bound in these tests: a call that waited for headers would still be
    /// waiting when the suite's time limit fails it.
    static let patient = CallOptions(timeout: .seconds(50))

    private func withQuietEcho(
        interceptors: [ConditionalInterceptor<any ClientInterceptor>] = [],
        _ body: (Echo_EchoClient, GRPCClient, QuietEcho) async throws -> Void
    ) async throws {
        let quiet = QuietEcho()
        let server = GRPCServer(transport: HTTP2ServerTransport(host: "127.0.0.1", port: 0), services: [quiet])
        let port = try await server.start()
        let grpc = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: port), interceptors: interceptors)
        do {
            try await body(Echo_EchoClient(wrapping: grpc), grpc, quiet)
        } catch {
            await grpc.close()
            await server.shutdownGracefully(gracePeriod: .seconds(2))
            throw error
        }
        await grpc.close()
        await server.shutdownGracefully(gracePeriod: .seconds(2))
    }

    @Test("a server stream without headers returns at once; cancel() ends it with CANCELLED and reaches the handler")
    func quietServerStreamReturnsAndCanBeCancelled() async throws {
        try await withQuietEcho { echo, _, quiet in
            let stream = try await echo.expand(request("a"), options: Self.patient)
            await quiet.waitForStarts(1)
            #expect(quiet.started == 1, "the call was sent while the caller went on")
            stream.cancel()
            var iterator = stream.makeAsyncIterator()
            let error = await caughtRPCError { _ = try await iterator.next() }
            #expect(error?.code == .cancelled)
            #expect(stream.trailers != nil, "a stream that ended has its trailers, empty or not")
            await quiet.waitForCancellations(1)
        }
    }

    @Test("a quiet server stream ends by its deadline with DEADLINE_EXCEEDED from the first next() and from metadata")
    func quietServerStreamEndsByItsDeadline() async throws {
        try await withQuietEcho { echo, _, quiet in
            let stream = try await echo.expand(request("a"), options: CallOptions(timeout: .milliseconds(300)))
            var iterator = stream.makeAsyncIterator()
            let error = await caughtRPCError { _ = try await iterator.next() }
            #expect(error?.code == .deadlineExceeded)
            let headersError = await caughtRPCError { _ = try await stream.metadata }
            #expect(headersError?.code == .deadlineExceeded)
            #expect(try await iterator.next() == nil, "an iterator that threw is finished")
            await quiet.waitForCancellations(1)
        }
    }

    @Test("a bidi call returns before its headers; a request written after it returned is answered")
    func bidiAnswersARequestWrittenAfterTheCallReturned() async throws {
        try await withQuietEcho { echo, _, quiet in
            let (requests, input) = AsyncStream.makeStream(of: Echo_EchoRequest.self)
            let stream = try await echo.update(requests, options: Self.patient)
            await quiet.waitForStarts(1)
            input.yield(request("late"))
            var iterator = stream.makeAsyncIterator()
            #expect(try await iterator.next()?.text == "late")
            #expect(try await stream.metadata == [:])
            input.yield(request("again"))
            #expect(try await iterator.next()?.text == "again")
            input.finish()
            #expect(try await iterator.next() == nil)
            #expect(stream.trailers == [:])
        }
    }

    @Test("a bidi call waiting for its headers: the writer closure runs, cancel() and the deadline end it")
    func bidiWaitingForHeadersCanBeCancelledOrTimedOut() async throws {
        try await withQuietEcho { echo, _, quiet in
            // The writer runs while the call waits: it writes only once told to, after the call returned.
            let go = AsyncStream.makeStream(of: Void.self)
            let written = try await echo.update(options: Self.patient) { writer in
                for await _ in go.stream { break }
                try await writer.write(request("from the writer"))
                try await Task.sleep(for: .seconds(3600))  // keep the request side open
            }
            go.continuation.yield()
            var iterator = written.makeAsyncIterator()
            #expect(try await iterator.next()?.text == "from the writer")
            written.cancel()
            #expect(await caughtRPCError { _ = try await iterator.next() }?.code == .cancelled)
            await quiet.waitForCancellations(1)

            // No request at all: cancelled before any headers.
            let silent = try await echo.update(options: Self.patient) { _ in try await Task.sleep(for: .seconds(3600)) }
            await quiet.waitForStarts(2)
            silent.cancel()
            #expect(await caughtRPCError { _ = try await silent.metadata }?.code == .cancelled)
            await quiet.waitForCancellations(2)

            // And ended by its deadline.
            let late = try await echo.update(options: CallOptions(timeout: .milliseconds(300))) { _ in
                try await Task.sleep(for: .seconds(3600))
            }
            #expect(await caughtRPCError { for try await _ in late {} }?.code == .deadlineExceeded)
            await quiet.waitForCancellations(3)
        }
    }

    @Test("dropping a stream before its headers, unread, cancels the call at the server")
    func droppedQuietStreamsAreCancelled() async throws {
        try await withQuietEcho { echo, _, quiet in
            do {
                let stream = try await echo.expand(request("a"), options: Self.patient)
                await quiet.waitForStarts(1)
                _ = stream
            }
            await quiet.waitForCancellations(1)
            do {
                let stream = try await echo.update(options: Self.patient) { _ in try await Task.sleep(for: .seconds(3600)) }
                await quiet.waitForStarts(2)
                _ = stream
            }
            await quiet.waitForCancellations(2)
        }
    }

    @Test("cancelling the task that iterates a stream waiting for its headers cancels the call")
    func cancellingTheIteratingTaskCancelsTheCall() async throws {
        try await withQuietEcho { echo, _, quiet in
            let stream = try await echo.expand(request("a"), options: Self.patient)
            let reader = Task { for try await _ in stream {} }
            await quiet.waitForStarts(1)
            reader.cancel()
            #expect(await caughtRPCError { try await reader.value }?.code == .cancelled)
            await quiet.waitForCancellations(1)
        }
    }

    @Test("an unimplemented streaming method: the call returns, its first next() and metadata throw UNIMPLEMENTED")
    func unimplementedMethodFailsFromTheStream() async throws {
        try await withQuietEcho { _, grpc, _ in
            let missing = MethodDescriptor(service: "echo.Echo", method: "Missing")
            let stream = try await grpc.serverStreaming(
                request: request("x"), method: missing,
                serializer: ProtobufSerializer<Echo_EchoRequest>(), deserializer: ProtobufDeserializer<Echo_EchoResponse>(),
                options: Self.patient)
            #expect(await caughtRPCError { for try await _ in stream {} }?.code == .unimplemented)
            #expect(await caughtRPCError { _ = try await stream.metadata }?.code == .unimplemented)

            let bidi = try await grpc.bidirectionalStreaming(
                method: missing,
                serializer: ProtobufSerializer<Echo_EchoRequest>(), deserializer: ProtobufDeserializer<Echo_EchoResponse>(),
                options: Self.patient
            ) { writer in try await writer.write(request("x")) }
            #expect(await caughtRPCError { for try await _ in bidi {} }?.code == .unimplemented)
        }
    }

    @Test("an OPEN breaker's rejection comes from the stream's first next(); the server sees no call")
    func breakerRejectionFailsFromTheStream() async throws {
        let registry = CircuitBreakerRegistry()
        let policy = CircuitBreakerPolicy()
        let breaker = CircuitBreakerInterceptor(policy: policy, target: "echo", registry: registry)
        try await withQuietEcho(interceptors: [.apply(breaker, to: .all)]) { echo, _, quiet in
            try registry.breaker(target: "echo", method: Echo_Echo.Method.Expand.descriptor, policy: policy).forceOpen()
            try registry.breaker(target: "echo", method: Echo_Echo.Method.Update.descriptor, policy: policy).forceOpen()
            let stream = try await echo.expand(request("a"), options: Self.patient)
            let rejected = await caughtRPCError { for try await _ in stream {} }
            #expect(rejected?.code == .unavailable)
            #expect(rejected?.isCircuitBreakerRejection == true)
            #expect(await caughtRPCError { _ = try await stream.metadata }?.isCircuitBreakerRejection == true)

            let bidi = try await echo.update(requests: { writer in try await writer.write(request("x")) })
            #expect(await caughtRPCError { for try await _ in bidi {} }?.isCircuitBreakerRejection == true)
            #expect(quiet.started == 0)
        }
    }
}
