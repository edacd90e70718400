@_spi(Locking) import BreakwaterCore
import BreakwaterTestSupport
import Testing

@testable import BreakwaterResilience

/// A test service, `test.Hedge`, whose unary `Get` plays one scripted step per call, in call order
/// (then answers `ok`): hang until cancelled, fail with a status (and a pushback trailer), or answer.
final class HedgeService: RegistrableService {
    static let get = MethodDescriptor(service: "test.Hedge", method: "Get")

    enum Step: Sendable {
        case hang
        case fail(Status.Code, pushback: String? = nil)
        case answer(String)
    }

    private struct State {
        var script: [Step]
        var calls = 0
        var cancellations = 0
        var callWaiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
        var cancellationWaiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state: TSanMutex<State>

    init(_ script: [Step]) {
        state = TSanMutex(State(script: script))
    }

    var calls: Int { state.withLock { $0.calls } }
    var cancellations: Int { state.withLock { $0.cancellations } }

    /// Returns once `count` calls have reached the handler.
    func waitForCalls(atLeast count: Int) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s -> Bool in
                if s.calls >= count { return true }
                s.callWaiters.append((count, c))
                return false
            }
            if ready { c.resume() }
        }
    }

    /// Returns once `count` handlers were cancelled.
    func waitForCancellations(atLeast count: Int) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s -> Bool in
                if s.cancellations >= count { return true }
                s.cancellationWaiters.append((count, c))
                return false
            }
            if ready { c.resume() }
        }
    }

    func registerMethods(with router: inout RPCRouter) {
        router.registerUnary(Self.get, deserializer: BytesCoder(), serializer: BytesCoder()) { _, _ in
            let (step, call, ready) = self.state.withLock { s -> (Step, Int, [CheckedContinuation<Void, Never>]) in
                s.calls += 1
                let ready = s.callWaiters.filter { $0.count <= s.calls }.map(\.continuation)
                s.callWaiters.removeAll { $0.count <= s.calls }
                return (s.script.isEmpty ? .answer("ok") : s.script.removeFirst(), s.calls, ready)
            }
            for waiter in ready { waiter.resume() }
            switch step {
            case .hang:
                do {
                    while true { try await Task.sleep(for: .seconds(3600)) }
                } catch {
                    let ready = self.state.withLock { s -> [CheckedContinuation<Void, Never>] in
                        s.cancellations += 1
                        let ready = s.cancellationWaiters.filter { $0.count <= s.cancellations }.map(\.continuation)
                        s.cancellationWaiters.removeAll { $0.count <= s.cancellations }
                        return ready
                    }
                    for waiter in ready { waiter.resume() }
                    throw error
                }
            case .fail(let code, let pushback):
                var trailers: Metadata = [:]
                if let pushback { trailers.addString(pushback, forKey: RetryPushback.metadataKey) }
                throw RPCError(code: code, message: "scripted failure of call \(call)", metadata: trailers)
            case .answer(let text):
                return Array("\(text) (call \(call))".utf8)
            }
        }
    }
}

/// Calls `test.Hedge/Get` and returns the answer as a string.
func hedgeGet(_ grpc: GRPCClient) async throws -> String {
    let bytes = try await grpc.unary(
        request: [UInt8](), method: HedgeService.get, serializer: BytesCoder(), deserializer: BytesCoder())
    return String(decoding: bytes, as: UTF8.self)
}

@Suite("HedgingInterceptor over the in-process transport", .timeLimit(.minutes(TestTime.minutes(1))))
struct HedgingInterceptorTests {
    static func hedging(
        maxAttempts: Int = 3, delay: Duration = .seconds(1), nonFatal: Set<Status.Code> = [.unavailable],
        throttle: RetryThrottle? = nil, clock: SteppingClock
    ) -> ConditionalInterceptor<any ClientInterceptor> {
        let policy = HedgingPolicy(maxAttempts: maxAttempts, hedgingDelay: delay, nonFatalStatusCodes: nonFatal)
        return .apply(HedgingInterceptor(policy: policy, throttle: throttle, clock: clock), to: .all)
    }

    @Test("a slow first attempt is beaten by the hedge sent after hedgingDelay; the loser is cancelled")
    func hedgeBeatsSlowAttempt() async throws {
        let clock = SteppingClock()
        let service = HedgeService([.hang, .answer("fast")])
        let recorder = MetadataRecorder()
        try await withEcho(
            services: [service], serverInterceptors: [recorder], interceptors: [Self.hedging(clock: clock)]
        ) { h in
            async let answer = hedgeGet(h.grpc)
            await service.waitForCalls(atLeast: 1)
            await clock.waitForSleepers(atLeast: 1)
            #expect(service.calls == 1)  // nothing is hedged before the delay
            clock.advance(by: .seconds(1))
            let text = try await answer
            #expect(text == "fast (call 2)")
            await service.waitForCancellations(atLeast: 1)
            #expect(service.calls == 2)
            #expect(recorder.values(RetryInterceptor.previousAttemptsKey, method: "Get") == [nil, "1"])
            #expect(clock.requestedSleeps == [.seconds(1), .seconds(1)])
        }
    }

    @Test("cancelling the call cancels every attempt, and no hedge follows, even if CANCELLED is non-fatal")
    func callerCancels() async throws {
        let clock = SteppingClock()
        let service = HedgeService([.hang, .hang])
        try await withEcho(
            services: [service], interceptors: [Self.hedging(nonFatal: [.unavailable, .cancelled], clock: clock)]
        ) { h in
            let call = Task { try await hedgeGet(h.grpc) }
            await service.waitForCalls(atLeast: 1)
            await clock.waitForSleepers(atLeast: 1)
            clock.advance(by: .seconds(1))
            await service.waitForCalls(atLeast: 2)
            call.cancel()
            #expect(await rpcError { _ = try await call.value }?.code == .cancelled)
            await service.waitForCancellations(atLeast: 2)
            #expect(service.calls == 2)
        }
    }

    @Test("a non-fatal failure sends the next hedge at once, without waiting for the delay; its context says it is hedge 2")
    func nonFatalHedgesAtOnce() async throws {
        let clock = SteppingClock()
        let service = HedgeService([.fail(.unavailable), .answer("second")])
        let observer = CallEventRecorder()
        try await withEcho(
            services: [service],
            interceptors: [.apply(observer, to: .all), Self.hedging(delay: .seconds(100), clock: clock)]
        ) { h in
            let text = try await hedgeGet(h.grpc)
            #expect(text == "second (call 2)")
            #expect(service.calls == 2)
        }
        #expect(observer.startedAttempts == [.first, ClientAttempt(number: 2, reason: .hedge)])
    }

    @Test("a fatal status ends the call and cancels the attempts still running")
    func fatalStops() async throws {
        let clock = SteppingClock()
        let service = HedgeService([.hang, .fail(.permissionDenied)])
        try await withEcho(services: [service], interceptors: [Self.hedging(clock: clock)]) { h in
            async let failure = rpcError { _ = try await hedgeGet(h.grpc) }
            await service.waitForCalls(atLeast: 1)
            await clock.waitForSleepers(atLeast: 1)
            clock.advance(by: .seconds(1))
            #expect(await failure?.code == .permissionDenied)
            await service.waitForCancellations(atLeast: 1)
            #expect(service.calls == 2)
        }
    }

    @Test("a fatal status of the first attempt sends no hedge")
    func fatalFirst() async throws {
        let service = HedgeService([.fail(.invalidArgument)])
        try await withEcho(services: [service], interceptors: [Self.hedging(clock: SteppingClock())]) { h in
            #expect(await rpcError { _ = try await hedgeGet(h.grpc) }?.code == .invalidArgument)
            #expect(service.calls == 1)
        }
    }

    @Test("attempts stop at maxAttempts; the call ends with the last failure")
    func maxAttempts() async throws {
        let service = HedgeService(Array(repeating: .fail(.unavailable), count: 10))
        try await withEcho(services: [service], interceptors: [Self.hedging(maxAttempts: 3, clock: SteppingClock())]) { h in
            let error = await rpcError { _ = try await hedgeGet(h.grpc) }
            #expect(error?.code == .unavailable)
            #expect(error?.message == "scripted failure of call 3")
            #expect(service.calls == 3)
        }
    }

    @Test("maxAttempts bounds the delayed hedges too; a zero delay sends them all at once")
    func zeroDelaySendsAll() async throws {
        let service = HedgeService([.hang, .hang, .answer("third")])
        let recorder = MetadataRecorder()
        try await withEcho(
            services: [service], serverInterceptors: [recorder],
            interceptors: [Self.hedging(maxAttempts: 3, delay: .zero, clock: SteppingClock())]
        ) { h in
            let text = try await hedgeGet(h.grpc)
            #expect(text == "third (call 3)")
            await service.waitForCancellations(atLeast: 2)
            #expect(service.calls == 3)
            #expect(Set(recorder.values(RetryInterceptor.previousAttemptsKey, method: "Get")) == [nil, "1", "2"])
        }
    }

    @Test("the target's throttle stops hedges after enough failures, across calls")
    func throttling() async throws {
        // 4 tokens; hedges only while more than 2 remain; each non-fatal failure takes one.
        let throttle = RetryThrottle(policy: RetryThrottlingPolicy(maxTokens: 4, tokenRatio: 0.5))
        let service = HedgeService(Array(repeating: .fail(.unavailable), count: 100))
        try await withEcho(
            services: [service], interceptors: [Self.hedging(maxAttempts: 5, throttle: throttle, clock: SteppingClock())]
        ) { h in
            _ = await rpcError { _ = try await hedgeGet(h.grpc) }
            #expect(service.calls == 2)  // 4 -> 3 (hedge), 3 -> 2 (stop)
            _ = await rpcError { _ = try await hedgeGet(h.grpc) }
            #expect(service.calls == 3)  // 2 -> 1 (stop)
            #expect(throttle.tokens == 1)
        }
    }

    @Test("while throttled, the delay sends no hedge")
    func throttledTimer() async throws {
        let clock = SteppingClock()
        let throttle = RetryThrottle(policy: RetryThrottlingPolicy(maxTokens: 2, tokenRatio: 0.5))
        throttle.recordFailure()  // 1 token: not more than half
        let service = HedgeService([.hang])
        try await withEcho(
            services: [service], interceptors: [Self.hedging(throttle: throttle, clock: clock)]
        ) { h in
            let call = Task { try await hedgeGet(h.grpc) }
            await service.waitForCalls(atLeast: 1)
            await clock.waitForSleepers(atLeast: 1)
            clock.advance(by: .seconds(1))
            // The timer fired and found the throttle closed: no second call, and no timer for a third.
            // (A negative observation: the yields give a wrongly sent hedge the time to show.)
            for _ in 0..<2000 { await Task.yield() }
            #expect(clock.requestedSleeps == [.seconds(1)])
            call.cancel()
            #expect(await rpcError { _ = try await call.value }?.code == .cancelled)
            #expect(service.calls == 1)
        }
    }

    @Test("pushback -1 stops further hedges")
    func pushbackStops() async throws {
        let service = HedgeService([.fail(.unavailable, pushback: "-1")])
        try await withEcho(services: [service], interceptors: [Self.hedging(clock: SteppingClock())]) { h in
            #expect(await rpcError { _ = try await hedgeGet(h.grpc) }?.code == .unavailable)
            #expect(service.calls == 1)
        }
    }

    @Test("a pushback delay moves the next hedge")
    func pushbackDelays() async throws {
        let clock = SteppingClock()
        let service = HedgeService([.fail(.unavailable, pushback: "250")])
        try await withEcho(services: [service], interceptors: [Self.hedging(delay: .seconds(100), clock: clock)]) { h in
            async let answer = hedgeGet(h.grpc)
            await clock.waitForSleepers(atLeast: 2)  // the 100 s timer, then the pushed-back one
            #expect(clock.requestedSleeps == [.seconds(100), .milliseconds(250)])
            #expect(service.calls == 1)
            clock.advance(by: .milliseconds(250))
            let text = try await answer
            #expect(text == "ok (call 2)")
        }
    }

    @Test("a client-streaming request is hedged: every attempt reads the whole request from its own view of the buffer")
    func streamedRequestHedged() async throws {
        let messages = RequestMessages { writer in
            try await writer.write([1])
            try await writer.write([2])
        }
        let reads = TSanMutex<[[[UInt8]]]>([])
        let interceptor = HedgingInterceptor(
            policy: HedgingPolicy(maxAttempts: 3, hedgingDelay: .zero, nonFatalStatusCodes: [.unavailable]),
            clock: SteppingClock())
        let context = ClientContext(descriptor: HedgeService.get, kind: .clientStreaming)
        let error = await rpcError {
            _ = try await interceptor.intercept(request: ClientRequest(messages: messages), context: context) { request, _ in
                var read: [[UInt8]] = []
                for try await message in request.messages { read.append(message) }
                reads.withLock { $0.append(read) }
                throw RPCError(code: .unavailable, message: "down")
            }
        }
        #expect(error?.code == .unavailable)
        // Three attempts at once (a zero delay), each reading both messages: no attempt superseded another.
        #expect(reads.withLock { $0 } == [[[1], [2]], [[1], [2]], [[1], [2]]])
        #expect(!messages.isCommitted)
        messages.close()
    }

    @Test("in the standard chain, each hedge is one breaker attempt")
    func breakerSeesEachHedge() async throws {
        let clock = SteppingClock()
        let breakerPolicy = CircuitBreakerPolicy(consecutiveFailures: 2)
        let policy = MethodPolicy(
            circuitBreaker: breakerPolicy,
            hedging: HedgingPolicy(maxAttempts: 2, hedgingDelay: .seconds(1), nonFatalStatusCodes: [.unavailable]))
        let resilience = try ResilienceConfiguration(
            policies: PolicyTable(defaultPolicy: policy), target: "hedge", clock: clock)
        let service = HedgeService([.fail(.unavailable), .fail(.unavailable)])
        try await withEcho(services: [service], interceptors: resilience.interceptors) { h in
            #expect(await rpcError { _ = try await hedgeGet(h.grpc) }?.code == .unavailable)
            #expect(service.calls == 2)
            let snapshot = try #require(resilience.breakerSnapshots().first)
            #expect(snapshot.totals.failures == 2)
            #expect(snapshot.state == .open)
            // Open: the next call is rejected before any attempt, and no hedge follows.
            #expect(await rpcError { _ = try await hedgeGet(h.grpc) }?.isCircuitBreakerRejection == true)
            #expect(service.calls == 2)
        }
    }

    @Test("in the standard chain, a hedge beats a slow attempt; the loser is a neutral breaker sample; the hedge is a retry event")
    func chainHedgeBeatsSlowAttempt() async throws {
        let clock = SteppingClock()
        let policy = MethodPolicy(
            timeout: .seconds(30), circuitBreaker: CircuitBreakerPolicy(),
            hedging: HedgingPolicy(maxAttempts: 2, hedgingDelay: .milliseconds(50)))
        let resilience = try ResilienceConfiguration(
            policies: PolicyTable(defaultPolicy: policy), target: "hedge", clock: clock)
        let retries = resilience.retryEvents.stream()
        let service = HedgeService([.hang, .answer("fast")])
        try await withEcho(services: [service], interceptors: resilience.interceptors) { h in
            async let answer = hedgeGet(h.grpc)
            await service.waitForCalls(atLeast: 1)
            await clock.waitForSleepers(atLeast: 1)
            clock.advance(by: .milliseconds(50))
            let text = try await answer
            #expect(text == "fast (call 2)")
            await service.waitForCancellations(atLeast: 1)
            let snapshot = try #require(resilience.breakerSnapshots().first)
            #expect(snapshot.totals.successes == 1)
            #expect(snapshot.totals.failures == 0)
            var iterator = retries.makeAsyncIterator()
            let hedge = await iterator.next()
            #expect(hedge == ClientRetry(method: HedgeService.get, attempt: 2, reason: .hedge, backoff: .zero))
        }
    }
}
