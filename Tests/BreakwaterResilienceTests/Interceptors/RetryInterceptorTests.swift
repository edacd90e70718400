import BreakwaterTestSupport
import BreakwaterCore
import EchoService
import Testing

@testable import BreakwaterResilience

@Suite("RetryInterceptor over the in-process transport", .timeLimit(.minutes(TestTime.minutes(1))))
struct RetryInterceptorTests {
    static func policy(
        maxAttempts: Int = 5,
        initialBackoff: Duration = .seconds(1),
        maxBackoff: Duration = .seconds(100),
        codes: Set<Status.Code> = [.unavailable],
        perAttemptTimeout: Duration? = nil
    ) -> RetryPolicy {
        RetryPolicy(
            maxAttempts: maxAttempts, initialBackoff: initialBackoff, maxBackoff: maxBackoff,
            backoffMultiplier: 2, retryableStatusCodes: codes, perAttemptTimeout: perAttemptTimeout)
    }

    static func retry(
        _ policy: RetryPolicy,
        throttle: RetryThrottle? = nil,
        clock: SteppingClock = SteppingClock(),
        random: @escaping @Sendable () -> Double = { 1 }
    ) -> ConditionalInterceptor<any ClientInterceptor> {
        .apply(RetryInterceptor(policy: policy, throttle: throttle, clock: clock, random: random), to: .all)
    }

    @Test("a fail-first-2 server succeeds on the third attempt; later attempts carry grpc-previous-rpc-attempts")
    func succeedsOnThirdAttempt() async throws {
        let clock = SteppingClock()
        let recorder = MetadataRecorder()
        try await withEcho(
            provider: EchoProvider(faults: .init(failFirst: 2)), serverInterceptors: [recorder],
            interceptors: [Self.retry(Self.policy(), clock: clock)]
        ) { h in
            async let answer = h.echo.get(echoRequest("hi"))
            await clock.waitForSleepers(atLeast: 1)
            clock.advance(by: .seconds(1))
            await clock.waitForSleepers(atLeast: 1)
            clock.advance(by: .seconds(2))
            let text = try await answer.text
            #expect(text == "hi")
            #expect(h.provider.callCount(.get) == 3)
            // Full jitter with random 1: the ceilings, initial x 2^(n-1).
            #expect(clock.requestedSleeps == [.seconds(1), .seconds(2)])
            #expect(recorder.values(RetryInterceptor.previousAttemptsKey, method: "Get") == [nil, "1", "2"])
        }
    }

    @Test("a non-retryable code is not retried")
    func nonRetryableCode() async throws {
        try await withEcho(
            provider: EchoProvider(faults: .init(failFirst: 5)),
            interceptors: [Self.retry(Self.policy(codes: [.resourceExhausted]))]
        ) { h in
            let error = await rpcError { _ = try await h.echo.get(echoRequest("x")) }
            #expect(error?.code == .unavailable)
            #expect(h.provider.callCount(.get) == 1)
        }
    }

    @Test("attempts stop at maxAttempts")
    func attemptsExhausted() async throws {
        try await withEcho(
            provider: EchoProvider(faults: .init(failFirst: 10)),
            interceptors: [Self.retry(Self.policy(maxAttempts: 3), random: { 0 })]
        ) { h in
            let error = await rpcError { _ = try await h.echo.get(echoRequest("x")) }
            #expect(error?.code == .unavailable)
            #expect(h.provider.callCount(.get) == 3)
        }
    }

    @Test("the target's throttle stops retries after enough failures, across calls")
    func throttling() async throws {
        // 4 tokens; retries only while more than 2 remain; each failed attempt takes one.
        let throttle = RetryThrottle(policy: RetryThrottlingPolicy(maxTokens: 4, tokenRatio: 0.5))
        try await withEcho(
            provider: EchoProvider(faults: .init(failFirst: 100)),
            interceptors: [Self.retry(Self.policy(), throttle: throttle, random: { 0 })]
        ) { h in
            _ = await rpcError { _ = try await h.echo.get(echoRequest("x")) }
            #expect(h.provider.callCount(.get) == 2)  // 4 -> 3 (retry), 3 -> 2 (stop)
            _ = await rpcError { _ = try await h.echo.get(echoRequest("x")) }
            #expect(h.provider.callCount(.get) == 3)  // 2 -> 1 (stop)
            #expect(throttle.tokens == 1)
        }
    }

    @Test("server pushback replaces the backoff")
    func pushbackDelay() async throws {
        let clock = SteppingClock()
        let flaky = FlakyService(pushbacks: ["250"])
        try await withEcho(services: [flaky], interceptors: [Self.retry(Self.policy(initialBackoff: .seconds(50)), clock: clock)]) { h in
            async let answer = flakyGet(h.grpc)
            await clock.waitForSleepers(atLeast: 1)
            #expect(clock.requestedSleeps == [.milliseconds(250)])
            clock.advance(by: .milliseconds(250))
            let text = try await answer
            #expect(text == "ok")
            #expect(flaky.getCalls == 2)
        }
    }

    @Test("negative or unparseable pushback stops retries", arguments: ["-1", "soon"])
    func pushbackStops(value: String) async throws {
        let flaky = FlakyService(pushbacks: [value])
        try await withEcho(services: [flaky], interceptors: [Self.retry(Self.policy(), random: { 0 })]) { h in
            let error = await rpcError { _ = try await flakyGet(h.grpc) }
            #expect(error?.code == .unavailable)
            #expect(flaky.getCalls == 1)
        }
    }

    @Test("a circuit breaker rejection is never retried")
    func breakerRejectionNotRetried() async throws {
        let clock = SteppingClock()
        let registry = CircuitBreakerRegistry(clock: clock)
        let breakerPolicy = CircuitBreakerPolicy()
        try registry.breaker(target: "echo", method: Echo_Echo.Method.Get.descriptor, policy: breakerPolicy).forceOpen()
        try await withEcho(
            interceptors: [
                Self.retry(Self.policy(), clock: clock),
                .apply(CircuitBreakerInterceptor(policy: breakerPolicy, target: "echo", registry: registry), to: .all),
            ]
        ) { h in
            let error = await rpcError { _ = try await h.echo.get(echoRequest("x")) }
            #expect(error?.isCircuitBreakerRejection == true)
            #expect(h.provider.totalCallCount == 0)
            #expect(clock.requestedSleeps.isEmpty)
        }
    }

    @Test("a backoff that would end past the deadline is not slept: the call ends with the last error")
    func neverOutlivesTheDeadline() async throws {
        let clock = SteppingClock()
        try await withEcho(
            provider: EchoProvider(faults: .init(failFirst: 100)),
            interceptors: [Self.retry(Self.policy(initialBackoff: .seconds(10)), clock: clock)]
        ) { h in
            // 30 s left: the first backoff (10 s) fits, the second (20 s, 10 s already spent) does not.
            let options = CallOptions(timeout: .seconds(30))
            async let outcome = rpcError { _ = try await h.echo.get(echoRequest("x"), options: options) }
            await clock.waitForSleepers(atLeast: 1)
            clock.advance(by: .seconds(10))
            let error = await outcome
            #expect(error?.code == .unavailable)
            #expect(h.provider.callCount(.get) == 2)
            #expect(clock.requestedSleeps == [.seconds(10)])
            #expect(clock.pendingSleepers == 0)
        }
    }

    @Test("a call cancelled during its backoff ends at once with CANCELLED")
    func cancelledDuringBackoff() async throws {
        let clock = SteppingClock()
        try await withEcho(
            provider: EchoProvider(faults: .init(failFirst: 100)),
            interceptors: [Self.retry(Self.policy(), clock: clock)]
        ) { h in
            let call = Task { await rpcError { _ = try await h.echo.get(echoRequest("x")) } }
            await clock.waitForSleepers(atLeast: 1)
            call.cancel()
            let error = await call.value
            #expect(error?.code == .cancelled)
            #expect(h.provider.callCount(.get) == 1)
        }
    }

    @Test("per-attempt timeout bounds each attempt inside the overall deadline")
    func perAttemptTimeout() async throws {
        let recorder = ContextRecorder()
        try await withEcho(
            provider: EchoProvider(faults: .init(hang: true)),
            interceptors: [
                Self.retry(
                    Self.policy(maxAttempts: 2, codes: [.deadlineExceeded], perAttemptTimeout: .milliseconds(100)),
                    random: { 0 }),
                .apply(recorder, to: .all),
            ]
        ) { h in
            let start = ContinuousClock.now
            let options = CallOptions(timeout: .seconds(20))
            let error = await rpcError { _ = try await h.echo.get(echoRequest("x"), options: options) }
            #expect(error?.code == .deadlineExceeded)
            #expect(h.provider.callCount(.get) == 2)
            #expect(start.duration(to: .now) < .seconds(10))
            let deadlines = recorder.recorded.compactMap(\.deadline)
            #expect(deadlines.count == 2)
            #expect(deadlines.allSatisfy { start.duration(to: $0) < .seconds(5) })
            await h.provider.waitForCancellations(atLeast: 2)
        }
    }

    @Test("streaming calls are retried before their response headers")
    func streamingRetriedBeforeHeaders() async throws {
        let recorder = MetadataRecorder()
        try await withEcho(
            provider: EchoProvider(faults: .init(failFirst: 2)), serverInterceptors: [recorder],
            interceptors: [Self.retry(Self.policy(), random: { 0 })]
        ) { h in
            let words = try await h.echo.expand(echoRequest("a b c")).collected().get().map(\.text)
            #expect(words == ["a", "b", "c"])
            #expect(h.provider.callCount(.expand) == 3)

            // Bidi: the request messages are replayed from the retry buffer.
            let echoed = try await h.echo.update(requests: writing(["x", "y"])).collected().get().map(\.text)
            #expect(echoed == ["x", "y"])
            #expect(h.provider.callCount(.update) == 3)
            #expect(recorder.values(RetryInterceptor.previousAttemptsKey, method: "Update") == [nil, "1", "2"])
        }
    }

    @Test("no retry once the response headers arrived")
    func noRetryAfterHeaders() async throws {
        let flaky = FlakyService()
        try await withEcho(services: [flaky], interceptors: [Self.retry(Self.policy(), random: { 0 })]) { h in
            let response = try await h.grpc.serverStreaming(
                request: [], method: FlakyService.stream, serializer: BytesCoder(), deserializer: BytesCoder())
            let result = await response.collected()
            #expect(result.elements == [Array("first".utf8)])
            #expect(result.error?.code == .unavailable)
            #expect(flaky.streamCalls == 1)
        }
    }

    @Test("one transparent retry for a stream that never reached the server, not counted as an attempt")
    func transparentRetry() async throws {
        let recorder = MetadataRecorder()
        try await withEcho(
            provider: EchoProvider(faults: .init(failFirst: 1)), serverInterceptors: [recorder],
            interceptors: [
                Self.retry(Self.policy(maxAttempts: 2), random: { 0 }),
                .apply(RefuseStreams(count: 1), to: .all),
            ]
        ) { h in
            // Refused (transparent retry), then attempt 1 fails, then attempt 2 of 2 succeeds.
            let text = try await h.echo.get(echoRequest("x")).text
            #expect(text == "x")
            #expect(h.provider.callCount(.get) == 2)
            #expect(recorder.values(RetryInterceptor.previousAttemptsKey, method: "Get") == [nil, "1"])
        }
        // Without a retry policy: one transparent retry, not two.
        try await withEcho(interceptors: [
            .apply(RetryInterceptor(policies: PolicyTable()), to: .all),
            .apply(RefuseStreams(count: 2), to: .all),
        ]) { h in
            let error = await rpcError { _ = try await h.echo.get(echoRequest("x")) }
            #expect(error?.message == "refused stream")
            #expect(h.provider.totalCallCount == 0)
            let text = try await h.echo.get(echoRequest("y")).text
            #expect(text == "y")
        }
    }
}
