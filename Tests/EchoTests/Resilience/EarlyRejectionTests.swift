import BreakwaterTestSupport
@_spi(Locking) import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterProtobuf
import BreakwaterResilience
import EchoService
import Testing

/// An open breaker rejects a call before the client builds it (`ClientCallAdmission`): no serialization,
/// no chain, the same rejection as the chain's, against a real echo server over HTTP/2.
@Suite("Early rejection over HTTP/2", .timeLimit(.minutes(TestTime.minutes(1))))
struct EarlyRejectionTests {
    static let getBreaker = """
        {"methodConfig": [{
          "name": [{"service": "echo.Echo", "method": "Get"}],
          "circuitBreakerPolicy": {"consecutiveFailures": 2, "openDuration": "10s", "successThreshold": 1}
        }]}
        """

    @Test("an open breaker's rejection comes before the request is serialized, and is counted as the chain counts it")
    func rejectsBeforeSerializing() async throws {
        try await withResilientEcho(faults: .init(failFirst: 100), config: Self.getBreaker) { h async throws in
            let serializer = CountingSerializer()
            let client = h.echo.client
            func call() async -> RPCError? {
                await caughtRPCError {
                    _ = try await client.unary(
                        request: request("x"), method: Echo_Echo.Method.Get.descriptor, serializer: serializer,
                        deserializer: ProtobufDeserializer<Echo_EchoResponse>())
                }
            }
            for _ in 1...2 { #expect(await call()?.isCircuitBreakerRejection == false) }
            #expect(h.state("Get") == .open)
            #expect(serializer.count == 2)

            for _ in 1...5 {
                let rejected = await call()
                #expect(rejected?.isCircuitBreakerRejection == true)
                #expect(rejected?.message == "circuit breaker 'echo/echo.Echo/Get' is OPEN; next probe in 10.0 s")
            }
            // Not one of the rejected requests was encoded, and the breaker counted every rejection.
            #expect(serializer.count == 2)
            #expect(h.breaker("Get")?.snapshot().totals.rejected == 5)
            #expect(h.provider.totalCallCount == 2)
        }
    }

    @Test("a half-open breaker lets its probe through admission; the probe closes it")
    func halfOpenProbePassesAdmission() async throws {
        let clock = SteppingClock()
        try await withResilientEcho(faults: .init(failFirst: 2), config: Self.getBreaker, clock: clock) { h async throws in
            for _ in 1...2 { _ = await caughtRPCError { _ = try await h.echo.get(request("x")) } }
            #expect(h.state("Get") == .open)
            #expect(await caughtRPCError { _ = try await h.echo.get(request("x")) }?.isCircuitBreakerRejection == true)
            clock.advance(by: .seconds(10))
            // The open duration is over: admission does not reject, the chain admits the probe, it succeeds.
            let response = try await h.echo.get(request("probe"))
            #expect(response.text == "probe")
            #expect(h.state("Get") == .closed)
            #expect(h.provider.totalCallCount == 3)
        }
    }

    @Test("with an interceptor in front of the chain, the rejection happens in the chain, where that interceptor sees it")
    func anOuterInterceptorSeesTheRejection() async throws {
        let resilience = try ResilienceConfiguration(
            serviceConfig: try ServiceConfig(json: Self.getBreaker), target: "echo", clock: SteppingClock())
        let live = try await LiveEchoServer.start(provider: EchoProvider(faults: .init(failFirst: 100)))
        let outer = AttemptRecorder()
        let grpc = GRPCClient(
            transport: HTTP2ClientTransport(host: "127.0.0.1", port: live.port),
            interceptors: [.apply(outer, to: .all)] + resilience.interceptors)
        let echo = Echo_EchoClient(wrapping: grpc)
        try await closing(grpc, live) {
            for _ in 1...4 { _ = await caughtRPCError { _ = try await echo.get(request("x")) } }
            // Two calls reached the server and opened the breaker; the outer interceptor saw all four,
            // the last two as rejections thrown by the chain.
            #expect(outer.attempts == 4)
            let lastTwo = outer.errors.suffix(2).map(\.isCircuitBreakerRejection)
            #expect(lastTwo == [true, true])
            #expect(live.provider.totalCallCount == 2)
        }
    }
}

/// A request serializer that counts the messages it encodes.
final class CountingSerializer: MessageSerializer {
    private let inner = ProtobufSerializer<Echo_EchoRequest>()
    private let counted = TSanMutex(0)

    var count: Int { counted.withLock { $0 } }

    func serialize(_ message: Echo_EchoRequest) throws -> [UInt8] {
        counted.withLock { $0 += 1 }
        return try inner.serialize(message)
    }
}
