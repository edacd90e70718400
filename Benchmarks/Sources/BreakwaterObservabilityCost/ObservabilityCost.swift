import BenchSupport
import BreakwaterCore
import BreakwaterObservability
import BreakwaterResilience
import CoreMetrics
import EchoService

/// What metrics and tracing add to a call, `key=value` lines, medians over rounds.
///
///     breakwater-observability [calls-per-batch] [rounds] [direct|inproc] [config,config,...]
///
/// Two measurements:
/// - `direct.*`: a client interceptor's own work per call, its `intercept` called in a loop with a `next`
///   that answers at once (no transport, no task hop): `passthrough` (an interceptor that only calls
///   `next`), `metrics` (atomic backend), `metrics_noop` (swift-metrics' no-op backend), `tracing`
///   (swift-distributed-tracing's no-op tracer, the default), `both`; and `chain`, the standard
///   resilience chain (timeout, retry, a CLOSED breaker) without observability, to show that what the
///   observers need costs it nothing when none is installed. Each as wall time (`ns`) and as the
///   process's CPU time (`cpu_ns`), which other processes on a loaded machine inflate much less; over
///   `passthrough`, and `both` also over `passthrough2` (two pass-through interceptors, as `both` is two
///   interceptors). A fourth argument keeps only the configurations it names (and the pass-through
///   ones), e.g. for a profile.
/// - `inproc.*`: unary `Get` calls over the in-process transport, client and server interceptors, in
///   batches whose order rotates each round: `off` (no interceptor), `passthrough` (a pass-through
///   interceptor on each side: what any interceptor costs, mostly the hop of its `@concurrent` next),
///   `metrics`, `tracing`, `both`. `added_ns` is over `off`, `over_passthrough_ns` over `passthrough`.
@main
struct ObservabilityCost {
    struct PassThrough: ClientInterceptor, ServerInterceptor {
        func intercept(
            request: ClientRequest, context: ClientContext,
            next: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
        ) async throws -> ClientResponse {
            try await next(request, context)
        }

        func intercept(
            request: ServerRequest, context: ServerContext,
            next: @concurrent @Sendable (ServerRequest, ServerContext) async throws -> Void
        ) async throws {
            try await next(request, context)
        }
    }

    struct Setup {
        let name: String
        let client: Echo_EchoClient
        let grpc: GRPCClient
        let server: GRPCServer
    }

    static func setup(
        _ name: String, client clientInterceptors: [any ClientInterceptor], server serverInterceptors: [any ServerInterceptor]
    ) async throws -> Setup {
        let transport = InProcessTransport()
        let server = GRPCServer(transport: transport.server, services: [EchoProvider()], interceptors: serverInterceptors)
        _ = try await server.start()
        let grpc = GRPCClient(transport: transport.client, interceptors: clientInterceptors.map { .apply($0, to: .all) })
        return Setup(name: name, client: Echo_EchoClient(wrapping: grpc), grpc: grpc, server: server)
    }

    /// The client interceptors' own work: `intercept` in a loop, `next` answering at once.
    static func direct(calls: Int, rounds: Int, atomic: AtomicMetricsFactory, only: Set<String>?) async throws {
        let resilience = try ResilienceConfiguration(
            policies: PolicyTable(
                defaultPolicy: MethodPolicy(
                    timeout: .seconds(30),
                    retry: RetryPolicy(
                        maxAttempts: 3, initialBackoff: .milliseconds(10), maxBackoff: .seconds(1),
                        backoffMultiplier: 2, retryableStatusCodes: [.unavailable]),
                    circuitBreaker: CircuitBreakerPolicy())),
            target: "bench")
        let chains: [(String, [any ClientInterceptor])] = [
            ("passthrough", [PassThrough()]),
            ("passthrough2", [PassThrough(), PassThrough()]),
            ("metrics", [ClientMetricsInterceptor(factory: atomic)]),
            ("metrics_noop", [ClientMetricsInterceptor(factory: NOOPMetricsHandler.instance)]),
            ("tracing", [ClientTracingInterceptor()]),
            ("both", [ClientMetricsInterceptor(factory: atomic), ClientTracingInterceptor()]),
            ("chain", resilience.interceptors.map(\.interceptor)),
        ].filter { name, _ in name.hasPrefix("passthrough") || only.map { $0.contains(name) } ?? true }
        let method = MethodDescriptor(service: "echo.Echo", method: "Get")
        let request = ClientRequest(message: Array("breakwater-bench".utf8))
        let answer: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse = { _, context in
            // What the transport end reports for one attempt of a unary call.
            context.report(.attemptStarted)
            context.report(.messageSent(bytes: 18))
            context.report(.messageReceived(bytes: 18))
            return ClientResponse(messages: [Array("breakwater-bench".utf8)])
        }
        var perCall: [String: [Double]] = [:]
        var cpuPerCall: [String: [Double]] = [:]
        for round in 0..<(rounds + 1) {
            for (name, chain) in chains {
                let start = ContinuousClock.now
                let cpuStart = BatchTiming.processCPUNanoseconds()
                for _ in 0..<calls {
                    var next = answer
                    for interceptor in chain.reversed() {
                        let inner = next
                        next = { request, context in
                            try await interceptor.intercept(request: request, context: context, next: inner)
                        }
                    }
                    let response = try await next(request, ClientContext(descriptor: method, kind: .unary))
                    for try await _ in response.body {}
                }
                if round > 0 {  // round 0 warms up
                    perCall[name, default: []].append(BatchTiming.nanoseconds(.now - start, per: calls))
                    cpuPerCall[name, default: []].append((BatchTiming.processCPUNanoseconds() - cpuStart) / Double(calls))
                }
            }
        }
        for (name, _) in chains {
            print("direct.\(name).ns=\(Int(BatchTiming.median(perCall[name]!).rounded()))")
            print("direct.\(name).cpu_ns=\(Int(BatchTiming.median(cpuPerCall[name]!).rounded()))")
        }
        let passthrough = BatchTiming.median(perCall["passthrough"]!)
        let cpuPassthrough = BatchTiming.median(cpuPerCall["passthrough"]!)
        for (name, _) in chains where !name.hasPrefix("passthrough") {
            print("direct.\(name).over_passthrough_ns=\(Int((BatchTiming.median(perCall[name]!) - passthrough).rounded()))")
            print("direct.\(name).cpu_over_passthrough_ns=\(Int((BatchTiming.median(cpuPerCall[name]!) - cpuPassthrough).rounded()))")
        }
        // `both` is two interceptors: over two pass-through ones, what the two add themselves.
        if perCall["both"] != nil {
            let cpuPassthrough2 = BatchTiming.median(cpuPerCall["passthrough2"]!)
            print("direct.both.over_passthrough2_ns=\(Int((BatchTiming.median(perCall["both"]!) - BatchTiming.median(perCall["passthrough2"]!)).rounded()))")
            print("direct.both.cpu_over_passthrough2_ns=\(Int((BatchTiming.median(cpuPerCall["both"]!) - cpuPassthrough2).rounded()))")
        }
    }

    static func inProcess(calls: Int, rounds: Int, atomic: AtomicMetricsFactory) async throws {
        let setups = [
            try await setup("off", client: [], server: []),
            try await setup("passthrough", client: [PassThrough()], server: [PassThrough()]),
            try await setup(
                "metrics", client: [ClientMetricsInterceptor(factory: atomic)],
                server: [ServerMetricsInterceptor(factory: atomic)]),
            try await setup("tracing", client: [ClientTracingInterceptor()], server: [ServerTracingInterceptor()]),
            try await setup(
                "both", client: [ClientMetricsInterceptor(factory: atomic), ClientTracingInterceptor()],
                server: [ServerTracingInterceptor(), ServerMetricsInterceptor(factory: atomic)]),
        ]
        let request = Echo_EchoRequest.with { $0.text = "breakwater-bench" }
        for setup in setups {
            for _ in 0..<2_000 { _ = try await setup.client.get(request) }
        }
        var perCall: [String: [Double]] = [:]
        for round in 0..<rounds {
            // Rotate the order, so that no configuration always runs first or last in a round.
            for index in 0..<setups.count {
                let setup = setups[(index + round) % setups.count]
                let start = ContinuousClock.now
                for _ in 0..<calls { _ = try await setup.client.get(request) }
                perCall[setup.name, default: []].append(BatchTiming.nanoseconds(.now - start, per: calls))
            }
        }
        let off = BatchTiming.median(perCall["off"]!)
        let passthrough = BatchTiming.median(perCall["passthrough"]!)
        for setup in setups {
            let ns = BatchTiming.median(perCall[setup.name]!)
            print("inproc.\(setup.name).call_ns=\(Int(ns.rounded()))")
            if setup.name != "off" { print("inproc.\(setup.name).added_ns=\(Int((ns - off).rounded()))") }
            if setup.name != "off" && setup.name != "passthrough" {
                print("inproc.\(setup.name).over_passthrough_ns=\(Int((ns - passthrough).rounded()))")
            }
        }
        for setup in setups {
            await setup.grpc.close()
            await setup.server.shutdownGracefully(gracePeriod: .seconds(1))
        }
    }

    static func main() async throws {
        let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
        let calls = arguments.first ?? 20_000
        let rounds = arguments.dropFirst().first ?? 7
        let atomic = AtomicMetricsFactory()
        print("observability.calls_per_batch=\(calls)")
        print("observability.rounds=\(rounds)")
        let only = CommandLine.arguments.dropFirst(3).first  // "direct" or "inproc": one of the two
        let configs = CommandLine.arguments.dropFirst(4).first.map { Set($0.split(separator: ",").map(String.init)) }
        if only != "inproc" { try await direct(calls: calls * 5, rounds: rounds, atomic: atomic, only: configs) }
        if only != "direct" { try await inProcess(calls: calls, rounds: rounds, atomic: atomic) }
    }
}
