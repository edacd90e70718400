import BreakwaterTestSupport
@_spi(Locking) import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterProtobuf
import BreakwaterResilience
import EchoService
import Testing

/// A live echo server on loopback and a client over `HTTP2ClientTransport` with the standard chain.
struct ResilientEcho {
    let echo: Echo_EchoClient
    let live: LiveEchoServer
    let resilience: ResilienceConfiguration

    var provider: EchoProvider { live.provider }

    /// The breaker of `method` of `echo.Echo`, if a call created it.
    func breaker(_ method: String) -> CircuitBreaker? {
        resilience.registry.existingBreaker(
            for: BreakerKey(target: resilience.target, service: "echo.Echo", method: method))
    }

    /// The state of the breaker of `method`, if a call created it.
    func state(_ method: String) -> CircuitState? {
        breaker(method)?.currentState
    }
}

/// Runs `body` against a live echo server with `faults`, through a client whose standard chain
/// (Timeout -> Retry -> CircuitBreaker) comes from `config`, a service-config JSON, on `clock`.
///
/// - Parameters:
///   - random: The backoff jitter source; `{ 0 }` makes backoffs zero (no sleeps), `{ 1 }` makes them
///     the ceilings.
///   - fallback: Answers calls a breaker rejects.
///   - interceptors: Interceptors inside the chain: each attempt passes them.
@discardableResult
func withResilientEcho<Result>(
    faults: EchoProvider.Faults = .none,
    config: String,
    clock: SteppingClock = SteppingClock(),
    random: @escaping @Sendable () -> Double = { 0 },
    fallback: CircuitBreakerInterceptor.Fallback? = nil,
    interceptors: [ConditionalInterceptor<any ClientInterceptor>] = [],
    _ body: (ResilientEcho) async throws -> Result
) async throws -> Result {
    try await withResilientEcho(
        faults: faults, serviceConfig: try ServiceConfig(json: config), clock: clock, random: random,
        fallback: fallback, interceptors: interceptors, body)
}

/// Runs `body` as `withResilientEcho(faults:config:...)` does, with a parsed service config.
@discardableResult
func withResilientEcho<Result>(
    faults: EchoProvider.Faults = .none,
    serviceConfig: ServiceConfig,
    clock: SteppingClock = SteppingClock(),
    random: @escaping @Sendable () -> Double = { 0 },
    fallback: CircuitBreakerInterceptor.Fallback? = nil,
    interceptors: [ConditionalInterceptor<any ClientInterceptor>] = [],
    _ body: (ResilientEcho) async throws -> Result
) async throws -> Result {
    let resilience = try ResilienceConfiguration(
        serviceConfig: serviceConfig, target: "echo", clock: clock, random: random,
        fallback: fallback)
    let live = try await LiveEchoServer.start(provider: EchoProvider(faults: faults))
    let grpc = GRPCClient(
        transport: HTTP2ClientTransport(host: "127.0.0.1", port: live.port),
        resilience: resilience, interceptors: interceptors)
    let harness = ResilientEcho(echo: Echo_EchoClient(wrapping: grpc), live: live, resilience: resilience)
    return try await closing(grpc, live) { try await body(harness) }
}

/// The `RPCError` `body` throws, or `nil` when it does not throw.
func caughtRPCError(_ body: () async throws -> Void) async -> RPCError? {
    do {
        try await body()
        return nil
    } catch let error as RPCError {
        return error
    } catch {
        Issue.record("expected an RPCError, got \(error)")
        return nil
    }
}

/// The texts of a whole `Expand` call (the call and its stream), or the error it ended with.
func expandTexts(_ echo: Echo_EchoClient, _ text: String) async throws -> [String] {
    var texts: [String] = []
    for try await response in try await echo.expand(request(text)) { texts.append(response.text) }
    return texts
}

/// The texts of a whole `Update` call that sends `texts`, or the error it ended with.
func updateTexts(_ echo: Echo_EchoClient, _ texts: [String]) async throws -> [String] {
    let responses = try await echo.update { writer in
        for text in texts { try await writer.write(request(text)) }
    }
    var received: [String] = []
    for try await response in responses { received.append(response.text) }
    return received
}

/// Reads the first `count` transitions of `events` as `FROM->TO`.
func transitions(_ events: AsyncStream<CircuitBreakerEvent>, count: Int) async -> [String] {
    var seen: [String] = []
    guard count > 0 else { return seen }
    for await event in events {
        if case .transition(_, let t) = event { seen.append("\(t.from)->\(t.to)") }
        if seen.count == count { break }
    }
    return seen
}

/// The protobuf encoding of an echo response with `text`.
func encodedResponse(_ text: String) throws -> [UInt8] {
    try ProtobufSerializer<Echo_EchoResponse>().serialize(Echo_EchoResponse.with { $0.text = text })
}

/// Counts the attempts that pass it and keeps the errors they end with (before the response headers).
final class AttemptRecorder: ClientInterceptor {
    private let state = TSanMutex<(attempts: Int, errors: [RPCError])>((0, []))

    var attempts: Int { state.withLock { $0.attempts } }
    var errors: [RPCError] { state.withLock { $0.errors } }

    func intercept(
        request: ClientRequest,
        context: ClientContext,
        next: @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        state.withLock { $0.attempts += 1 }
        do {
            return try await next(request, context)
        } catch let error as RPCError {
            state.withLock { $0.errors.append(error) }
            throw error
        }
    }
}
