import BreakwaterCore
import BreakwaterTestSupport
import Testing

@testable import BreakwaterResilience

@Suite("ConcurrencyLimitInterceptor over the in-process transport", .timeLimit(.minutes(TestTime.minutes(1))))
struct ConcurrencyLimitInterceptorTests {
    @Test("a fixed bulkhead rejects the excess at once with RESOURCE_EXHAUSTED, and admits again once a slot is free")
    func bulkhead() async throws {
        let limit = try ConcurrencyLimitInterceptor(policy: .fixed(2), clock: SteppingClock())
        let service = HedgeService([.hang, .hang])
        try await withEcho(services: [service], interceptors: [.apply(limit, to: .all)]) { h in
            let first = Task { try await hedgeGet(h.grpc) }
            let second = Task { try await hedgeGet(h.grpc) }
            await service.waitForCalls(atLeast: 2)
            let limiter = limit.limiter(for: HedgeService.get)
            #expect(limiter.inFlight == 2)
            let error = await rpcError { _ = try await hedgeGet(h.grpc) }
            #expect(error?.code == .resourceExhausted)
            #expect(service.calls == 2)  // rejected before the network
            first.cancel()
            #expect(await rpcError { _ = try await first.value }?.code == .cancelled)
            #expect(limiter.inFlight == 1)
            let text = try await hedgeGet(h.grpc)
            #expect(text == "ok (call 3)")
            #expect(limiter.inFlight == 1)
            second.cancel()
            _ = await rpcError { _ = try await second.value }
            #expect(limiter.inFlight == 0)
            #expect(limiter.limit == 2)
        }
    }

    @Test("an adaptive limit grows with answered calls and backs off on overload statuses")
    func adaptive() async throws {
        let configuration = GradientLimit.Configuration(initialLimit: 1, minLimit: 1, maxLimit: 50, samplesPerUpdate: 1)
        let limit = try ConcurrencyLimitInterceptor(policy: .adaptive(configuration), clock: SteppingClock())
        let service = HedgeService(
            Array(repeating: .answer("fast"), count: 20) + Array(repeating: .fail(.unavailable), count: 20))
        try await withEcho(services: [service], interceptors: [.apply(limit, to: .all)]) { h in
            let limiter = limit.limiter(for: HedgeService.get)
            for _ in 0..<20 { _ = try await hedgeGet(h.grpc) }
            let grown = limiter.limit
            // One call at a time uses a limit of 1 fully, and the latency (on a clock that does not move)
            // never rises: the limit grows, until one call is less than half of it (just above 2).
            #expect(grown == 2)
            for _ in 0..<20 { _ = await rpcError { _ = try await hedgeGet(h.grpc) } }
            #expect(limiter.limit < grown)
            #expect(limiter.limit == 1)
            #expect(limiter.inFlight == 0)
        }
    }
}
