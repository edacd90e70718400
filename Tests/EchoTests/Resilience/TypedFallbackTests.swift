import BreakwaterCore
import BreakwaterResilience
import EchoService
import Testing

@Suite("Typed circuit-breaker fallbacks per generated method", .timeLimit(.minutes(1)))
struct TypedFallbackTests {
    @Test("each method answers in its own type while its breaker is OPEN; unanswered ones fail")
    func typedFallbacks() async throws {
        var fallbacks = CircuitBreakerFallbacks()
        fallbacks.answer(Echo_Echo.Method.Get.self) { rejection, _ in
            #expect(rejection.state == .open)
            return .with { $0.text = "cached" }
        }
        fallbacks.answerStream(Echo_Echo.Method.Expand.self) { _, _ in
            [.with { $0.text = "cached" }, .with { $0.text = "words" }]
        }
        #expect(fallbacks.hasAnswer(for: Echo_Echo.Method.Get.descriptor))
        #expect(!fallbacks.hasAnswer(for: Echo_Echo.Method.Collect.descriptor))
        let config = """
            {"methodConfig": [{"name": [{"service": "echo.Echo"}],
              "circuitBreakerPolicy": {"consecutiveFailures": 1, "openDuration": "30s"}}]}
            """
        try await withResilientEcho(faults: .init(failFirst: 1), config: config, fallback: fallbacks.fallback) { h async throws in
            _ = await caughtRPCError { _ = try await h.echo.get(request("x")) }
            #expect(h.state("Get") == .open)
            #expect(try await h.echo.get(request("y")).text == "cached")
            #expect(h.provider.callCount(.get) == 1)

            _ = await caughtRPCError { _ = try await expandTexts(h.echo, "a") }
            #expect(try await expandTexts(h.echo, "a b") == ["cached", "words"])
            #expect(h.provider.callCount(.expand) == 1)

            _ = await caughtRPCError { _ = try await h.echo.collect { try await $0.write(request("c")) } }
            let rejected = await caughtRPCError { _ = try await h.echo.collect { try await $0.write(request("c")) } }
            #expect(rejected?.isCircuitBreakerRejection == true)
        }
    }

    @Test("a generated method builds a response from typed messages")
    func responseFromTypedMessages() async throws {
        let response = try Echo_Echo.Method.Expand.response([.with { $0.text = "a" }], trailers: ["x-t": "1"])
        var parts: [ClientResponsePart] = []
        for try await part in response.body { parts.append(part) }
        #expect(parts.count == 2)
        #expect(Echo_Echo.Method.Get.kind == .unary)
    }
}
