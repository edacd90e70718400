import BreakwaterCore
import BreakwaterTestSupport
import EchoService
import Testing

@testable import BreakwaterResilience

@Suite("CircuitBreakerInterceptor over the in-process transport", .timeLimit(.minutes(TestTime.minutes(1))))
struct CircuitBreakerInterceptorTests {
    static let get = Echo_Echo.Method.Get.descriptor
    static let expand = Echo_Echo.Method.Expand.descriptor
    static let update = Echo_Echo.Method.Update.descriptor

    func breakerChain(
        _ policy: CircuitBreakerPolicy,
        registry: CircuitBreakerRegistry,
        fallback: CircuitBreakerInterceptor.Fallback? = nil
    ) -> [ConditionalInterceptor<any ClientInterceptor>] {
        [.apply(CircuitBreakerInterceptor(policy: policy, target: "echo", registry: registry, fallback: fallback), to: .all)]
    }

    @Test("opens after the configured consecutive failures, then rejects without the server seeing a call")
    func opensThenRejectsWithoutIO() async throws {
        let clock = ManualClock()
        let registry = CircuitBreakerRegistry(clock: clock)
        let policy = CircuitBreakerPolicy(consecutiveFailures: 3, openDuration: .seconds(10), jitter: 0)
        try await withEcho(
            provider: EchoProvider(faults: .init(failFirst: 100)), interceptors: breakerChain(policy, registry: registry)
        ) { h in
            for _ in 0..<3 {
                let error = await rpcError { _ = try await h.echo.get(echoRequest("x")) }
                #expect(error?.code == .unavailable)
                #expect(error?.isCircuitBreakerRejection == false)
            }
            #expect(h.provider.callCount(.get) == 3)
            let breaker = try #require(registry.existingBreaker(for: BreakerKey(target: "echo", service: "echo.Echo", method: "Get")))
            #expect(breaker.currentState == .open)

            clock.advance(by: .seconds(4))
            let rejected = await rpcError { _ = try await h.echo.get(echoRequest("x")) }
            #expect(rejected?.code == .unavailable)
            #expect(rejected?.isCircuitBreakerRejection == true)
            #expect(rejected?.message == "circuit breaker 'echo/echo.Echo/Get' is OPEN; next probe in 6.0 s")
            #expect(h.provider.callCount(.get) == 3)
            #expect(breaker.snapshot().totals.rejected == 1)
        }
    }

    @Test("a call counts as slow from its admission to the end of its body, and slow calls can open it")
    func slowCallsMeasuredToTheEndOfTheBody() async throws {
        for slow in [false, true] {
            let clock = ManualClock()
            let registry = CircuitBreakerRegistry(clock: clock)
            let policy = CircuitBreakerPolicy(
                consecutiveFailures: nil, slidingWindow: .count(10), minimumCalls: 2,
                slowCallDurationThreshold: .seconds(1), slowCallRateThreshold: 0.5)
            try await withEcho(interceptors: breakerChain(policy, registry: registry)) { h in
                for _ in 0..<2 {
                    // Client streaming: admitted before the requests are written; the clock moves while
                    // they are, so the response comes after it moved.
                    let joined = try await h.echo.collect { writer in
                        if slow { clock.advance(by: .milliseconds(1_500)) }
                        try await writer.write(echoRequest("a"))
                    }
                    #expect(joined.text == "a")
                }
                let breaker = try #require(
                    registry.existingBreaker(for: BreakerKey(target: "echo", service: "echo.Echo", method: "Collect")))
                #expect(breaker.currentState == (slow ? .open : .closed))
                #expect(breaker.snapshot().totals.successes == 2)
            }
        }
    }

    @Test("a response stream is slow only if its answer is: a long stream that answered at once is not")
    func responseStreamsAreTimedToTheirAnswer() async throws {
        let clock = ManualClock()
        let registry = CircuitBreakerRegistry(clock: clock)
        let policy = CircuitBreakerPolicy(
            consecutiveFailures: nil, slidingWindow: .count(10), minimumCalls: 2,
            slowCallDurationThreshold: .seconds(1), slowCallRateThreshold: 0.5)
        try await withEcho(interceptors: breakerChain(policy, registry: registry)) { h in
            for _ in 0..<2 {
                let stream = try await h.echo.expand(echoRequest("a b"))
                // The server answered (the call returns before it does: wait for its headers); the caller
                // then keeps the stream for a long time.
                _ = try await stream.metadata
                clock.advance(by: .seconds(30))
                var words: [String] = []
                for try await response in stream { words.append(response.text) }
                #expect(words == ["a", "b"])
            }
            let breaker = try #require(
                registry.existingBreaker(for: BreakerKey(target: "echo", service: "echo.Echo", method: "Expand")))
            #expect(breaker.currentState == .closed)
            #expect(breaker.snapshot().totals.successes == 2)
            #expect(breaker.snapshot().windowSlowCalls == 0)
        }
    }

    @Test("a watch that answered and then ran into its caller's deadline is neutral")
    func aWatchEndedByItsDeadlineIsNeutral() async throws {
        let registry = CircuitBreakerRegistry(clock: ManualClock())
        try await withEcho(
            services: [FlakyService()], interceptors: breakerChain(CircuitBreakerPolicy(consecutiveFailures: 1), registry: registry)
        ) { h in
            let response = try await h.grpc.serverStreaming(
                request: [], method: FlakyService.watch, serializer: BytesCoder(), deserializer: BytesCoder(),
                options: CallOptions(timeout: .milliseconds(200)))
            let result = await response.collected()
            #expect(result.elements.count == 1)
            #expect(result.error?.code == .deadlineExceeded)
            let breaker = try #require(registry.existingBreaker(for: BreakerKey(target: "echo", service: "test.Flaky", method: "Watch")))
            #expect(breaker.currentState == .closed)
            #expect(breaker.snapshot().totals.neutral == 1)
            #expect(breaker.snapshot().totals.failures == 0)
        }
    }

    @Test("a streaming probe's verdict is its answer: the breaker closes while the probe stream is still open")
    func aStreamingProbeFreesItsSlotAtItsAnswer() async throws {
        let clock = ManualClock()
        let registry = CircuitBreakerRegistry(clock: clock)
        let policy = CircuitBreakerPolicy(consecutiveFailures: 1, openDuration: .seconds(10), jitter: 0, successThreshold: 1)
        try await withEcho(
            services: [FlakyService()], interceptors: breakerChain(policy, registry: registry)
        ) { h in
            let key = BreakerKey(target: "echo", service: "test.Flaky", method: "Watch")
            let breaker = try registry.breaker(for: key, policy: policy)
            // Trip it with one failure, then let the open duration pass.
            let permit = try breaker.acquire()
            breaker.record(.failure, for: permit)
            #expect(breaker.currentState == .open)
            clock.advance(by: .seconds(10))
            let probe = try await h.grpc.serverStreaming(
                request: [], method: FlakyService.watch, serializer: BytesCoder(), deserializer: BytesCoder())
            var iterator = probe.makeAsyncIterator()
            #expect(try await iterator.next() == Array("snapshot".utf8))
            #expect(breaker.currentState == .closed, "closed by the probe's answer, its stream still open")
            // Other calls are admitted meanwhile.
            #expect(throws: Never.self) { _ = try breaker.acquire() }
        }
    }

    @Test("after the open duration it probes, and closes once the server recovers")
    func probesAndCloses() async throws {
        let clock = ManualClock()
        let registry = CircuitBreakerRegistry(clock: clock)
        let events = registry.events()
        let policy = CircuitBreakerPolicy(consecutiveFailures: 3, openDuration: .seconds(10), successThreshold: 2)
        // The first 4 calls fail: 3 trip the breaker, the first probe fails and reopens it.
        try await withEcho(
            provider: EchoProvider(faults: .init(failFirst: 4)), interceptors: breakerChain(policy, registry: registry)
        ) { h in
            for _ in 0..<3 { _ = await rpcError { _ = try await h.echo.get(echoRequest("x")) } }
            let key = BreakerKey(target: "echo", service: "echo.Echo", method: "Get")
            let breaker = try #require(registry.existingBreaker(for: key))
            #expect(breaker.currentState == .open)

            clock.advance(by: .seconds(10))
            let failedProbe = await rpcError { _ = try await h.echo.get(echoRequest("x")) }
            #expect(failedProbe?.isCircuitBreakerRejection == false)
            #expect(breaker.currentState == .open)
            #expect(h.provider.callCount(.get) == 4)

            clock.advance(by: .seconds(10))
            #expect(try await h.echo.get(echoRequest("a")).text == "a")
            #expect(breaker.currentState == .halfOpen)
            #expect(try await h.echo.get(echoRequest("b")).text == "b")
            #expect(breaker.currentState == .closed)
            #expect(h.provider.callCount(.get) == 6)
        }
        var transitions: [String] = []
        for await event in events {
            if case .transition(_, let t) = event { transitions.append("\(t.from)->\(t.to)") }
            if transitions.count == 5 { break }
        }
        #expect(transitions == ["CLOSED->OPEN", "OPEN->HALF_OPEN", "HALF_OPEN->OPEN", "OPEN->HALF_OPEN", "HALF_OPEN->CLOSED"])
    }

    @Test("breakers of two methods are independent")
    func methodsAreIndependent() async throws {
        let registry = CircuitBreakerRegistry(clock: ManualClock())
        let policy = CircuitBreakerPolicy(consecutiveFailures: 2, openDuration: .seconds(10))
        try await withEcho(
            provider: EchoProvider(faults: .init(failFirst: 2)), interceptors: breakerChain(policy, registry: registry)
        ) { h in
            for _ in 0..<2 { _ = await rpcError { _ = try await h.echo.get(echoRequest("x")) } }
            let rejected = await rpcError { _ = try await h.echo.get(echoRequest("x")) }
            #expect(rejected?.isCircuitBreakerRejection == true)

            // Expand has its own breaker: its calls reach the server.
            // A stream's failure comes from its iteration (the call itself returns at once).
            let expandError = await rpcError { for try await _ in try await h.echo.expand(echoRequest("x y")) {} }
            #expect(expandError?.code == .unavailable)
            #expect(expandError?.isCircuitBreakerRejection == false)
            #expect(h.provider.callCount(.expand) == 1)
            let snapshots = registry.snapshots()
            #expect(snapshots.map(\.key.method) == ["Expand", "Get"])
            #expect(snapshots.map(\.state) == [.closed, .open])
        }
    }

    @Test("streaming calls record their final status: server streaming and bidi, OK and failures")
    func streamingOutcomes() async throws {
        let registry = CircuitBreakerRegistry(clock: ManualClock())
        let policy = CircuitBreakerPolicy(consecutiveFailures: 10)
        try await withEcho(
            provider: EchoProvider(faults: .init(failFirst: 1)), interceptors: breakerChain(policy, registry: registry)
        ) { h in
            // Expand: first call fails before headers (thrown by next), second streams and ends OK.
            _ = await rpcError { _ = try await h.echo.expand(echoRequest("a b")).collected().get() }
            #expect(try await h.echo.expand(echoRequest("a b")).collected().get().map(\.text) == ["a", "b"])
            let expand = try #require(registry.existingBreaker(for: BreakerKey(target: "echo", service: "echo.Echo", method: "Expand")))
            #expect(expand.snapshot().totals.failures == 1)
            #expect(expand.snapshot().totals.successes == 1)

            // Update: first call fails before headers; the second echoes and ends OK when the requests end.
            _ = await rpcError { _ = try await h.echo.update(requests: writing(["a"])).collected().get() }
            let echoed = try await h.echo.update(requests: writing(["a", "b"])).collected().get().map(\.text)
            #expect(echoed == ["a", "b"])
            let update = try #require(registry.existingBreaker(for: BreakerKey(target: "echo", service: "echo.Echo", method: "Update")))
            #expect(update.snapshot().totals.failures == 1)
            #expect(update.snapshot().totals.successes == 1)
        }
    }

    @Test("a failure after the response headers is recorded when the body ends")
    func failureAfterHeaders() async throws {
        let registry = CircuitBreakerRegistry(clock: ManualClock())
        let flaky = FlakyService()
        try await withEcho(
            services: [flaky], interceptors: breakerChain(CircuitBreakerPolicy(consecutiveFailures: 1), registry: registry)
        ) { h in
            let response = try await h.grpc.serverStreaming(
                request: [], method: FlakyService.stream, serializer: BytesCoder(), deserializer: BytesCoder())
            let result = await response.collected()
            #expect(result.elements.count == 1)
            #expect(result.error?.code == .unavailable)
            let breaker = try #require(registry.existingBreaker(for: BreakerKey(target: "echo", service: "test.Flaky", method: "Stream")))
            #expect(breaker.currentState == .open)
        }
    }

    @Test("a dropped body counts as neutral")
    func droppedBodyIsNeutral() async throws {
        let registry = CircuitBreakerRegistry(clock: ManualClock())
        try await withEcho(interceptors: breakerChain(CircuitBreakerPolicy(consecutiveFailures: 1), registry: registry)) { h in
            do {
                let stream = try await h.echo.update { writer in try await writer.write(echoRequest("a")) }
                _ = try await stream.metadata  // the headers arrived; the body is dropped unread
            }
            let breaker = try #require(registry.existingBreaker(for: BreakerKey(target: "echo", service: "echo.Echo", method: "Update")))
            #expect(breaker.snapshot().totals.neutral == 1)
            #expect(breaker.currentState == .closed)
        }
    }

    @Test("a stream cancelled before its headers counts as neutral")
    func streamCancelledBeforeItsHeadersIsNeutral() async throws {
        let registry = CircuitBreakerRegistry(clock: ManualClock())
        try await withEcho(
            provider: EchoProvider(faults: .init(hang: true)),
            interceptors: breakerChain(CircuitBreakerPolicy(consecutiveFailures: 1), registry: registry)
        ) { h in
            let stream = try await h.echo.expand(echoRequest("a"))
            await h.provider.waitForCalls(atLeast: 1)
            stream.cancel()
            #expect(await rpcError { for try await _ in stream {} }?.code == .cancelled)
            let breaker = try #require(registry.existingBreaker(for: BreakerKey(target: "echo", service: "echo.Echo", method: "Expand")))
            #expect(breaker.snapshot().totals.neutral == 1)
            #expect(breaker.currentState == .closed)
        }
    }

    @Test("DEADLINE_EXCEEDED for a deadline spent before the attempt started is neutral")
    func spentDeadlineIsNeutral() async throws {
        let registry = CircuitBreakerRegistry(clock: ManualClock())
        try await withEcho(interceptors: breakerChain(CircuitBreakerPolicy(consecutiveFailures: 1), registry: registry)) { h in
            let options = CallOptions(deadline: .now.advanced(by: .seconds(-1)))
            let error = await rpcError { _ = try await h.echo.get(echoRequest("x"), options: options) }
            #expect(error?.code == .deadlineExceeded)
            let breaker = try #require(registry.existingBreaker(for: BreakerKey(target: "echo", service: "echo.Echo", method: "Get")))
            #expect(breaker.currentState == .closed)
            #expect(breaker.snapshot().totals.neutral == 1)
        }
    }

    @Test("the fallback answers when the breaker is open; returning nil throws the rejection")
    func fallback() async throws {
        let registry = CircuitBreakerRegistry(clock: ManualClock())
        let fallback: CircuitBreakerInterceptor.Fallback = { rejection, context in
            guard context.descriptor == Self.get else { return nil }
            #expect(rejection.state == .forcedOpen)
            return ClientResponse(messages: [encodedEchoResponse("cached")])
        }
        try await withEcho(interceptors: breakerChain(CircuitBreakerPolicy(), registry: registry, fallback: fallback)) { h in
            try registry.breaker(target: "echo", method: Self.get, policy: CircuitBreakerPolicy()).forceOpen()
            try registry.breaker(target: "echo", method: Self.expand, policy: CircuitBreakerPolicy()).forceOpen()
            let answer = try await h.echo.get(echoRequest("x"))
            #expect(answer.text == "cached")
            let error = await rpcError { for try await _ in try await h.echo.expand(echoRequest("x")) {} }
            #expect(error?.isCircuitBreakerRejection == true)
            #expect(h.provider.totalCallCount == 0)
        }
    }
}

extension CircuitBreakerInterceptorTests {
    @Test("a fallback answers a streaming call: its stream yields the fallback's messages")
    func fallbackAnswersAStream() async throws {
        let registry = CircuitBreakerRegistry(clock: ManualClock())
        let fallback: CircuitBreakerInterceptor.Fallback = { _, _ in
            ClientResponse(metadata: ["x-fallback": "yes"], messages: [encodedEchoResponse("cached"), encodedEchoResponse("too")])
        }
        try await withEcho(interceptors: breakerChain(CircuitBreakerPolicy(), registry: registry, fallback: fallback)) { h in
            try registry.breaker(target: "echo", method: Self.expand, policy: CircuitBreakerPolicy()).forceOpen()
            let stream = try await h.echo.expand(echoRequest("x"))
            #expect(try await stream.metadata.firstString(forKey: "x-fallback") == "yes")
            #expect(try await stream.collected().get().map(\.text) == ["cached", "too"])
            #expect(stream.trailers == [:])
            #expect(h.provider.totalCallCount == 0)
        }
    }
}

/// A whole response stream: its messages and the error it ended with.
struct Collected<Response: Sendable> {
    var elements: [Response]
    var error: RPCError?

    /// The messages, or the error the stream ended with.
    func get() throws -> [Response] {
        if let error { throw error }
        return elements
    }
}

extension ResponseStream {
    /// Reads the whole stream.
    func collected() async -> Collected<Response> {
        var elements: [Response] = []
        do {
            for try await element in self { elements.append(element) }
            return Collected(elements: elements, error: nil)
        } catch {
            return Collected(elements: elements, error: error as? RPCError)
        }
    }
}

/// Writes `texts` as the requests of a streaming call.
func writing(_ texts: [String]) -> @Sendable (RPCWriter<Echo_EchoRequest>) async throws -> Void {
    { writer in for text in texts { try await writer.write(echoRequest(text)) } }
}
