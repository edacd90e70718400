@_spi(Locking) import BreakwaterCore
import BreakwaterTestSupport
import EchoService
import Testing

@testable import BreakwaterResilience

/// Records the call events an interceptor outside the retry interceptor is told.
final class CallEventRecorder: ClientInterceptor, ClientCallObserver {
    private let events = TSanMutex<[ClientCallEvent]>([])
    private let started = TSanMutex<[ClientAttempt]>([])
    var recorded: [ClientCallEvent] { events.withLock { $0 } }
    /// The `ClientContext.attempt` of each attempt that reached the transport, in order.
    var startedAttempts: [ClientAttempt] { started.withLock { $0 } }
    var retries: [ClientRetry] {
        recorded.compactMap { if case .retry(let retry) = $0 { retry } else { nil } }
    }
    var attempts: Int { recorded.filter { if case .attemptStarted = $0 { true } else { false } }.count }

    func observe(_ event: ClientCallEvent, context: ClientContext) {
        events.withLock { $0.append(event) }
        if case .attemptStarted = event { started.withLock { $0.append(context.attempt) } }
    }

    func intercept(
        request: ClientRequest,
        context: ClientContext,
        next: @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        var observed = context
        observed.callObservers.append(self)
        return try await next(request, observed)
    }
}

@Suite("Every retry is visible: an event, a log line and a call event, with its reason", .timeLimit(.minutes(TestTime.minutes(1))))
struct RetryVisibilityTests {
    static let get = MethodDescriptor(service: "echo.Echo", method: "Get")
    static let policy = RetryPolicy(
        maxAttempts: 4, initialBackoff: .milliseconds(100), maxBackoff: .seconds(1), backoffMultiplier: 2,
        retryableStatusCodes: [.unavailable])

    @Test("a transparent retry, then two status retries: attempt numbers, reasons, backoffs on all three channels")
    func reasonsAndAttempts() async throws {
        let log = CapturedLog()
        let events = RetryEvents()
        let stream = events.stream()
        let observer = CallEventRecorder()
        let clock = SteppingClock()
        let retry = RetryInterceptor(
            policy: Self.policy, clock: clock, random: { 1 }, logger: log.logger(label: "breakwater.retry"),
            events: events)
        try await withEcho(
            provider: EchoProvider(faults: .init(failFirst: 2)),
            interceptors: [
                .apply(observer, to: .all), .apply(retry, to: .all), .apply(RefuseStreams(count: 1), to: .all),
            ]
        ) { h in
            async let answer = h.echo.get(echoRequest("hi"))
            await clock.waitForSleepers(atLeast: 1)
            clock.advance(by: .milliseconds(100))
            await clock.waitForSleepers(atLeast: 1)
            clock.advance(by: .milliseconds(200))
            let text = try await answer.text
            #expect(text == "hi")
        }
        let expected = [
            ClientRetry(method: Self.get, attempt: 2, reason: .transparent(.unavailable), backoff: .zero),
            ClientRetry(method: Self.get, attempt: 3, reason: .status(.unavailable), backoff: .milliseconds(100)),
            ClientRetry(method: Self.get, attempt: 4, reason: .status(.unavailable), backoff: .milliseconds(200)),
        ]
        #expect(observer.retries == expected)
        var published: [ClientRetry] = []
        for await retry in stream {
            published.append(retry)
            if published.count == 3 { break }
        }
        #expect(published == expected)
        // The refused attempt never reached the transport: three network attempts, whose contexts carry
        // the numbers and reasons of the retries that made them.
        #expect(observer.attempts == 3)
        #expect(
            observer.startedAttempts == [
                ClientAttempt(number: 2, reason: .transparent(.unavailable)),
                ClientAttempt(number: 3, reason: .status(.unavailable)),
                ClientAttempt(number: 4, reason: .status(.unavailable)),
            ])

        let lines = log.recorded
        #expect(lines.map(\.level) == [.debug, .debug, .debug])
        #expect(lines.map(\.message) == ["retrying transparently: the stream never reached the server", "retrying", "retrying"])
        #expect(lines.map { $0.metadata["reason"] } == ["transparent", "status", "status"])
        #expect(lines.map { $0.metadata["attempt"] } == ["2", "3", "4"])
        #expect(lines.map { $0.metadata["method"] } == ["/echo.Echo/Get", "/echo.Echo/Get", "/echo.Echo/Get"])
        #expect(lines.map { $0.metadata["status"] } == ["UNAVAILABLE", "UNAVAILABLE", "UNAVAILABLE"])
    }

    @Test("a retry after the server's pushback has the pushback reason and the server's delay")
    func pushback() async throws {
        let observer = CallEventRecorder()
        let clock = SteppingClock()
        try await withEcho(
            services: [FlakyService(pushbacks: ["750"])],
            interceptors: [
                .apply(observer, to: .all),
                .apply(RetryInterceptor(policy: Self.policy, clock: clock, random: { 1 }), to: .all),
            ]
        ) { h in
            async let answer = flakyGet(h.grpc)
            await clock.waitForSleepers(atLeast: 1)
            #expect(clock.requestedSleeps == [.milliseconds(750)])
            clock.advance(by: .milliseconds(750))
            _ = try await answer
        }
        #expect(observer.retries.map(\.reason) == [.pushback(.unavailable)])
        #expect(observer.retries.map(\.backoff) == [.milliseconds(750)])
    }

    @Test("a breaker's rejection is reported as one, and is not retried")
    func breakerRejection() async throws {
        let observer = CallEventRecorder()
        let registry = CircuitBreakerRegistry()
        let breaker = CircuitBreakerInterceptor(policy: CircuitBreakerPolicy(), target: "t", registry: registry)
        try await withEcho(interceptors: [
            .apply(observer, to: .all),
            .apply(RetryInterceptor(policy: Self.policy), to: .all),
            .apply(breaker, to: .all),
        ]) { h in
            _ = try await h.echo.get(echoRequest("a"))
            try breaker.breaker(for: Self.get)?.forceOpen()
            let error = await rpcError { _ = try await h.echo.get(echoRequest("b")) }
            #expect(error?.code == .unavailable)
        }
        let decisions = observer.recorded.compactMap { event -> String? in
            switch event {
            case .admitted(let by, _): "\(by) admitted"
            case .rejected(let by, _): "\(by) rejected"
            default: nil
            }
        }
        #expect(decisions == ["circuit-breaker admitted", "circuit-breaker rejected"])
        #expect(observer.retries.isEmpty)
        #expect(observer.attempts == 1)
    }
}
