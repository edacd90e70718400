@_spi(Locking) import BreakwaterCore
import BreakwaterTestSupport
import Testing

@testable import BreakwaterResilience

/// The standard chain makes a call's first attempt itself, with the breaker's admission and record around
/// `next`, and enters the retry loop (`RetryInterceptor.attempts(after:...)`) only with a failed one.
@Suite("The standard chain's first attempt and the retry loop after it")
struct FirstAttemptTests {
    static let method = MethodDescriptor(service: "test.First", method: "Get")

    /// What `next` saw on each call: the attempt and its `grpc-previous-rpc-attempts`.
    final class Attempts: Sendable {
        private let seen = TSanMutex<[(attempt: ClientAttempt, previous: String?)]>([])

        func record(_ request: ClientRequest, _ context: ClientContext) {
            let previous = request.metadata.firstString(forKey: RetryInterceptor.previousAttemptsKey)
            seen.withLock { $0.append((context.attempt, previous)) }
        }

        var all: [(attempt: ClientAttempt, previous: String?)] { seen.withLock { $0 } }
    }

    static func chain(
        fallback: CircuitBreakerInterceptor.Fallback? = nil, throttling: RetryThrottlingPolicy? = nil
    ) throws -> (ResilienceInterceptor, CircuitBreaker) {
        let policy = MethodPolicy(
            retry: RetryPolicy(
                maxAttempts: 3, initialBackoff: .seconds(1), maxBackoff: .seconds(1), backoffMultiplier: 2,
                retryableStatusCodes: [.unavailable]),
            circuitBreaker: CircuitBreakerPolicy(consecutiveFailures: 5))
        // Jitter 0: every backoff is zero, so no retry sleeps.
        let resilience = try ResilienceConfiguration(
            policies: PolicyTable(defaultPolicy: policy), retryThrottling: throttling, target: "first",
            clock: SteppingClock(), random: { 0 }, fallback: fallback)
        let chain = resilience.resilienceInterceptor
        let breaker = try #require(try chain.circuitBreaker.breaker(for: method))
        return (chain, breaker)
    }

    /// A unary call of `method` through `chain`, whose `next` records each attempt in `attempts` and then
    /// answers with `answer`.
    static func call(
        _ chain: ResilienceInterceptor, recordingIn attempts: Attempts,
        answer: @escaping @Sendable (ClientContext) throws -> ClientResponse
    ) async throws -> ClientResponse {
        try await chain.intercept(
            request: ClientRequest(message: [1]), context: ClientContext(descriptor: method, kind: .unary)
        ) { request, context in
            attempts.record(request, context)
            return try answer(context)
        }
    }

    /// Reads a response to its end, so that the breaker records its outcome.
    static func drain(_ response: ClientResponse) async throws {
        for try await _ in response.body {}
    }

    @Test("a first attempt that succeeds is the only call of next: attempt 1, no retry metadata, one success")
    func firstAttemptSucceeds() async throws {
        let (chain, breaker) = try Self.chain()
        let attempts = Attempts()
        let response = try await Self.call(chain, recordingIn: attempts) { _ in ClientResponse(messages: [[2]]) }
        try await Self.drain(response)
        #expect(attempts.all.map(\.attempt) == [.first])
        #expect(attempts.all.map(\.previous) == [nil])
        #expect(breaker.snapshot().totals.successes == 1)
    }

    @Test("with a throttle, a first attempt's end reaches both the breaker and the throttle")
    func committedFirstAttemptReportsToBreakerAndThrottle() async throws {
        // Breaker and throttle share one observer on this path; each must still hear every end.
        let (chain, breaker) = try Self.chain(throttling: RetryThrottlingPolicy(maxTokens: 10, tokenRatio: 0.5))
        let throttle = try #require(chain.retry.throttle)
        for _ in 0..<4 { throttle.recordFailure() }
        #expect(throttle.tokens == 6)
        let attempts = Attempts()

        let ok = try await Self.call(chain, recordingIn: attempts) { _ in ClientResponse(messages: [[2]]) }
        try await Self.drain(ok)
        #expect(breaker.snapshot().totals.successes == 1)
        #expect(throttle.tokens == 6.5)

        // Headers came, then the body ended UNAVAILABLE: the call is committed (not retried), the breaker
        // counts a failure and the throttle takes a token.
        let failing = try await Self.call(chain, recordingIn: attempts) { _ in
            ClientResponse(body: .init(parts: [.message([2])], error: RPCError(code: .unavailable, message: "gone")))
        }
        await #expect(throws: RPCError.self) { try await Self.drain(failing) }
        #expect(breaker.snapshot().totals.failures == 1)
        #expect(throttle.tokens == 5.5)
        #expect(attempts.all.map(\.attempt) == [.first, .first])

        // A status that is not retryable takes no token.
        let notFound = try await Self.call(chain, recordingIn: attempts) { _ in
            ClientResponse(body: .init(parts: [], error: RPCError(code: .notFound, message: "no")))
        }
        await #expect(throws: RPCError.self) { try await Self.drain(notFound) }
        #expect(throttle.tokens == 5.5)
    }

    @Test("a retryable first failure is retried as attempt 2, each attempt one breaker sample")
    func firstAttemptFails() async throws {
        let (chain, breaker) = try Self.chain()
        let attempts = Attempts()
        let response = try await Self.call(chain, recordingIn: attempts) { context in
            if context.attempt.number == 1 { throw RPCError(code: .unavailable, message: "down") }
            return ClientResponse(messages: [[2]])
        }
        try await Self.drain(response)
        #expect(attempts.all.map(\.attempt) == [.first, ClientAttempt(number: 2, reason: .status(.unavailable))])
        #expect(attempts.all.map(\.previous) == [nil, "1"])
        #expect(breaker.snapshot().totals.failures == 1)
        #expect(breaker.snapshot().totals.successes == 1)
    }

    @Test("a first attempt the breaker rejects is answered by the fallback, without next")
    func firstAttemptRejectedWithFallback() async throws {
        let (chain, breaker) = try Self.chain(fallback: { rejection, _ in
            ClientResponse(messages: [Array("\(rejection.state)".utf8)])
        })
        breaker.forceOpen()
        let attempts = Attempts()
        let response = try await Self.call(chain, recordingIn: attempts) { _ in ClientResponse(messages: [[2]]) }
        var messages: [[UInt8]] = []
        for try await part in response.body {
            if case .message(let bytes) = part { messages.append(bytes) }
        }
        #expect(messages == [Array("FORCED_OPEN".utf8)])
        #expect(attempts.all.isEmpty)
        #expect(breaker.snapshot().totals.rejected == 1)
    }

    @Test("attempts(after:) makes the second attempt after a retryable first failure")
    func retryLoopStartsAtTheSecondAttempt() async throws {
        let retry = RetryInterceptor(
            policy: RetryPolicy(
                maxAttempts: 3, initialBackoff: .seconds(1), maxBackoff: .seconds(1), backoffMultiplier: 2,
                retryableStatusCodes: [.unavailable]),
            clock: SteppingClock(), random: { 0 })
        let attempts = Attempts()
        let context = ClientContext(descriptor: Self.method, kind: .unary)
        let response = try await retry.attempts(
            after: RPCError(code: .unavailable, message: "down"), request: ClientRequest(message: [1]),
            context: context, policy: retry.policies.policy(for: Self.method)?.retry
        ) { request, context in
            attempts.record(request, context)
            return ClientResponse(messages: [[2]])
        }
        try await Self.drain(response)
        #expect(attempts.all.map(\.attempt) == [ClientAttempt(number: 2, reason: .status(.unavailable))])
        #expect(attempts.all.map(\.previous) == ["1"])
    }

    @Test("attempts(after:) throws a first failure it does not retry, without calling next")
    func retryLoopThrowsWhatItDoesNotRetry() async throws {
        let retry = RetryInterceptor(
            policy: RetryPolicy(
                maxAttempts: 3, initialBackoff: .seconds(1), maxBackoff: .seconds(1), backoffMultiplier: 2,
                retryableStatusCodes: [.unavailable]),
            clock: SteppingClock(), random: { 0 })
        let rejection = CircuitBreakerRejection(key: BreakerKey(name: "x"), state: .open, retryAfter: .seconds(1))
        for failure in [RPCError(code: .invalidArgument, message: "bad"), rejection.rpcError] {
            let attempts = Attempts()
            let error = await rpcError {
                _ = try await retry.attempts(
                    after: failure, request: ClientRequest(message: [1]),
                    context: ClientContext(descriptor: Self.method, kind: .unary),
                    policy: retry.policies.policy(for: Self.method)?.retry
                ) { request, context in
                    attempts.record(request, context)
                    return ClientResponse(messages: [[2]])
                }
            }
            #expect(error?.code == failure.code)
            #expect(error?.message == failure.message)
            #expect(attempts.all.isEmpty)
        }
    }
}
