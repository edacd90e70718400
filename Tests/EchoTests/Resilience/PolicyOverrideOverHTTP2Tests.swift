import BreakwaterTestSupport
@_spi(Locking) import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterResilience
import EchoService
import Testing

/// Per-call policy overrides (`CallOptions.policyOverride`) in the standard chain, end to end over
/// HTTP/2 against the echo server.
@Suite("Per-call policy overrides over HTTP/2", .timeLimit(.minutes(TestTime.minutes(1))))
struct PolicyOverrideOverHTTP2Tests {
    static let retried = """
        {"methodConfig": [{"name": [{"service": "echo.Echo"}], "timeout": "30s",
          "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.01s", "maxBackoff": "0.1s",
                          "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]},
          "circuitBreakerPolicy": {"consecutiveFailures": 5}}]}
        """
    static let unretried = """
        {"methodConfig": [{"name": [{"service": "echo.Echo"}], "circuitBreakerPolicy": {"consecutiveFailures": 5}}]}
        """
    static let plain = """
        {"methodConfig": [{"name": [{"service": "echo.Echo"}], "timeout": "0.2s",
          "circuitBreakerPolicy": {"consecutiveFailures": 2}}]}
        """

    static func options(_ override: MethodPolicyOverride) -> CallOptions {
        var options = CallOptions()
        options.policyOverride = override
        return options
    }

    @Test("\"no retry\" sends the call once where the method would retry it; the next call still retries")
    func noRetry() async throws {
        try await withResilientEcho(faults: .init(failFirst: 2), config: Self.retried) { h async throws in
            let error = await caughtRPCError { _ = try await h.echo.get(request("x"), options: Self.options(.noRetry)) }
            #expect(error?.code == .unavailable)
            #expect(h.provider.callCount(.get) == 1)
            // Without an override the method's retry applies: the second fail-first call, then OK.
            #expect(try await h.echo.get(request("y")).text == "y")
            #expect(h.provider.callCount(.get) == 3)
        }
    }

    @Test("a retry policy set for one call retries a method that has none")
    func retryForOneCall() async throws {
        let retry = RetryPolicy(
            maxAttempts: 2, initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(1), backoffMultiplier: 1,
            retryableStatusCodes: [.unavailable])
        try await withResilientEcho(faults: .init(failFirst: 1), config: Self.unretried) { h async throws in
            let reply = try await h.echo.get(request("hi"), options: Self.options(MethodPolicyOverride(retry: .set(retry))))
            #expect(reply.text == "hi")
            #expect(h.provider.callCount(.get) == 2)
        }
    }

    @Test("a longer timeout for one call outlives the method's; a shorter one cuts it")
    func timeout() async throws {
        try await withResilientEcho(config: Self.plain) { h async throws in
            // The handler sleeps 400 ms: past the method's 200 ms, within the override's 30 s.
            let cut = await caughtRPCError { _ = try await h.echo.get(request("sleep:400")) }
            #expect(cut?.code == .deadlineExceeded)
            let longer = Self.options(MethodPolicyOverride(timeout: .set(.seconds(30))))
            #expect(try await h.echo.get(request("sleep:400"), options: longer).text == "sleep:400")
            let none = Self.options(MethodPolicyOverride(timeout: .off))
            #expect(try await h.echo.get(request("sleep:400"), options: none).text == "sleep:400")
            // The caller's own deadline still applies under an override.
            var own = longer
            own.timeout = .milliseconds(100)
            let ownCut = await caughtRPCError { _ = try await h.echo.get(request("sleep:2000"), options: own) }
            #expect(ownCut?.code == .deadlineExceeded)
        }
    }

    @Test("bypassing the breaker reaches the server while it is OPEN, and is not counted in it")
    func bypassBreaker() async throws {
        try await withResilientEcho(faults: .init(failFirst: 2), config: Self.plain) { h async throws in
            for _ in 0..<2 { _ = await caughtRPCError { _ = try await h.echo.get(request("x")) } }
            #expect(h.state("Get") == .open)
            let rejected = await caughtRPCError { _ = try await h.echo.get(request("x")) }
            #expect(rejected?.isCircuitBreakerRejection == true)
            #expect(h.provider.callCount(.get) == 2)
            let totalsBefore = h.breaker("Get")?.snapshot().totals

            let admin = Self.options(MethodPolicyOverride(bypassCircuitBreaker: true))
            #expect(try await h.echo.get(request("admin"), options: admin).text == "admin")
            #expect(h.provider.callCount(.get) == 3)
            // Not a sample: the breaker stays OPEN with the same counts, and no other breaker was made.
            #expect(h.state("Get") == .open)
            #expect(h.breaker("Get")?.snapshot().totals == totalsBefore)
            #expect(h.resilience.breakerSnapshots().count == 1)
        }
    }

    @Test("an invalid override fails the call with INVALID_ARGUMENT naming the field, before any I/O")
    func invalidOverride() async throws {
        var badRetry = RetryPolicy(
            maxAttempts: 2, initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(1), backoffMultiplier: 1,
            retryableStatusCodes: [.unavailable])
        badRetry.retryableStatusCodes = []
        try await withResilientEcho(config: Self.retried) { h async throws in
            let error = await caughtRPCError {
                _ = try await h.echo.get(request("x"), options: Self.options(MethodPolicyOverride(retry: .set(badRetry))))
            }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("retry.retryableStatusCodes: [] is empty") == true)
            let streamed = await caughtRPCError {
                _ = try await h.echo.collect(options: Self.options(MethodPolicyOverride(timeout: .set(.seconds(-1))))) { writer in
                    try await writer.write(request("a"))
                }
            }
            #expect(streamed?.code == .invalidArgument)
            #expect(streamed?.message.contains("timeout: -1.0 seconds is not > 0") == true)
            #expect(h.provider.callCount(.get) == 0)
            #expect(h.provider.callCount(.collect) == 0)
            #expect(h.breaker("Get")?.snapshot().totals.failures ?? 0 == 0)
        }
    }

    @Test("a hedging policy set for one call hedges a retried method: the hedge answers for a slow first attempt")
    func hedgingForOneCall() async throws {
        let draws = TSanMutex(0)
        // The first server call is slow (an hour, cancellable), the rest fast.
        let provider = EchoProvider(faults: .init(slowRate: 0.5, slowDelay: .seconds(3600))) {
            draws.withLock { n in
                n += 1
                return n == 1 ? 0 : 0.99
            }
        }
        let clock = SteppingClock()
        let resilience = try ResilienceConfiguration.serviceConfig(json: Self.retried, target: "echo", clock: clock)
        let live = try await LiveEchoServer.start(provider: provider)
        let grpc = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: live.port), resilience: resilience)
        try await closing(grpc, live) { () async throws in
            let echo = Echo_EchoClient(wrapping: grpc)
            let hedged = Self.options(MethodPolicyOverride(hedging: .set(HedgingPolicy(maxAttempts: 2, hedgingDelay: .milliseconds(50)))))
            async let answer = echo.get(request("hi"), options: hedged)
            await provider.waitForCalls(atLeast: 1)
            await clock.waitForSleepers(atLeast: 1)
            clock.advance(by: .milliseconds(50))
            #expect(try await answer.text == "hi")
            #expect(provider.callCount(.get) == 2)
            #expect(await provider.waitForCancellations(atLeast: 1, within: .seconds(10)))
        }
    }

    @Test("an override in the client's default options applies to every call; a call's own replaces it")
    func defaultOptionsOverride() async throws {
        let resilience = try ResilienceConfiguration.serviceConfig(json: Self.retried, target: "echo")
        let live = try await LiveEchoServer.start(provider: EchoProvider(faults: .init(failFirst: 2)))
        let grpc = GRPCClient(
            transport: HTTP2ClientTransport(host: "127.0.0.1", port: live.port), resilience: resilience,
            defaultOptions: Self.options(.noRetry))
        try await closing(grpc, live) { () async throws in
            let echo = Echo_EchoClient(wrapping: grpc)
            let error = await caughtRPCError { _ = try await echo.get(request("x")) }
            #expect(error?.code == .unavailable)
            #expect(live.provider.callCount(.get) == 1)
            // The call's own override (the method's policy, inherited) replaces the default's whole.
            #expect(try await echo.get(request("y"), options: Self.options(MethodPolicyOverride())).text == "y")
            #expect(live.provider.callCount(.get) == 3)
        }
    }

    @Test("the separate stages (Timeout, Retry, CircuitBreaker interceptors) honour an override as the fused chain does")
    func separateStages() async throws {
        let resilience = try ResilienceConfiguration.serviceConfig(json: Self.retried, target: "echo")
        let live = try await LiveEchoServer.start(provider: EchoProvider(faults: .init(failFirst: 1)))
        let grpc = GRPCClient(
            transport: HTTP2ClientTransport(host: "127.0.0.1", port: live.port),
            interceptors: [
                .apply(resilience.timeoutInterceptor, to: .all), .apply(resilience.retryInterceptor, to: .all),
                .apply(resilience.circuitBreakerInterceptor, to: .all),
            ])
        try await closing(grpc, live) { () async throws in
            let echo = Echo_EchoClient(wrapping: grpc)
            let once = Self.options(MethodPolicyOverride(retry: .off, bypassCircuitBreaker: true))
            let error = await caughtRPCError { _ = try await echo.get(request("x"), options: once) }
            #expect(error?.code == .unavailable)
            #expect(live.provider.callCount(.get) == 1)
            #expect(resilience.breakerSnapshots().isEmpty)
            let invalid = Self.options(MethodPolicyOverride(timeout: .set(.zero)))
            #expect(await caughtRPCError { _ = try await echo.get(request("x"), options: invalid) }?.code == .invalidArgument)
            #expect(live.provider.callCount(.get) == 1)
        }
    }
}
