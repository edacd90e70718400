import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterResilience
import EchoService

/// The 16-byte text every call sends; every response must carry it back unchanged.
let benchText = "breakwater-bench"

/// An echo server of our own, in this process.
struct EchoServerFixture: Sendable {
    let server: GRPCServer
    let provider: EchoProvider
    /// The port on 127.0.0.1 (HTTP/2), or nil for the in-process transport.
    let port: Int?
    /// The client end of the in-process transport (nil for HTTP/2).
    let inProcessClient: InProcessTransport.Client?

    /// Starts an echo server over HTTP/2 on 127.0.0.1, on a port the system picks.
    static func http2(faults: EchoProvider.Faults = .none, tls: TLSServerConfiguration? = nil) async throws -> EchoServerFixture {
        let provider = EchoProvider(faults: faults)
        let transport = HTTP2ServerTransport(host: "127.0.0.1", port: 0, configuration: .init(tls: tls))
        let server = GRPCServer(transport: transport, services: [provider])
        let port = try await server.start()
        return EchoServerFixture(server: server, provider: provider, port: port, inProcessClient: nil)
    }

    /// Starts an echo server over the in-memory transport.
    static func inProcess(faults: EchoProvider.Faults = .none) async throws -> EchoServerFixture {
        let provider = EchoProvider(faults: faults)
        let transport = InProcessTransport()
        let server = GRPCServer(transport: transport.server, services: [provider])
        _ = try await server.start()
        return EchoServerFixture(server: server, provider: provider, port: nil, inProcessClient: transport.client)
    }

    /// A client transport to this server: the in-process client end, or a new HTTP/2 connection.
    func makeTransport() -> any ClientTransport {
        if let inProcessClient { return inProcessClient }
        return HTTP2ClientTransport(host: "127.0.0.1", port: port!)
    }

    /// Where a client finds this server, as a breaker target.
    var target: String { port.map { "127.0.0.1:\($0)" } ?? "in-process" }

    func stop() async {
        await server.shutdownGracefully(gracePeriod: .milliseconds(200))
    }
}

/// The standard resilience chain's policies: a timeout, retry of UNAVAILABLE, the classic breaker.
func standardPolicies(
    timeout: Duration = .seconds(30), breaker: CircuitBreakerPolicy = CircuitBreakerPolicy()
) -> PolicyTable {
    PolicyTable(defaultPolicy: MethodPolicy(
        timeout: timeout,
        retry: RetryPolicy(
            maxAttempts: 3, initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(10),
            backoffMultiplier: 2, retryableStatusCodes: [.unavailable]
        ),
        circuitBreaker: breaker
    ))
}

/// The standard resilience chain for `target`, with a retry throttle as a production client would have.
func standardResilience(
    target: String, timeout: Duration = .seconds(30), breaker: CircuitBreakerPolicy = CircuitBreakerPolicy()
) throws(ConfigurationError) -> ResilienceConfiguration {
    try ResilienceConfiguration(
        policies: standardPolicies(timeout: timeout, breaker: breaker),
        retryThrottling: RetryThrottlingPolicy(maxTokens: 10, tokenRatio: 0.1),
        target: target
    )
}

/// Why a call counted as an error.
enum CallCheck {
    /// One `Get`; true when it returned the text sent.
    static func get(_ echo: Echo_EchoClient, _ request: Echo_EchoRequest, options: CallOptions = .defaults) async -> Bool {
        do {
            let response = try await echo.get(request, options: options)
            return response.text == request.text
        } catch {
            return false
        }
    }
}

/// Runs `body` with `executor` as the task executor preference, or as is when nil.
func withOptionalExecutor<T: Sendable>(
    _ executor: (any TaskExecutor)?, _ body: @Sendable () async -> T
) async -> T {
    if let executor {
        return await withTaskExecutorPreference(executor) { await body() }
    }
    return await body()
}
