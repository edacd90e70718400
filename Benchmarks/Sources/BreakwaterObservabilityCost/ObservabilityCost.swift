import BreakwaterCore
import BreakwaterObservability
import EchoService

/// What metrics and tracing add to a call: unary `Get` calls over the in-process transport (so that no
/// socket hides the difference), in alternating batches of each configuration, one median of
/// nanoseconds per call for each over the rounds; `key=value` lines.
///
///     breakwater-observability [calls-per-batch] [rounds]
///
/// Configurations: `off` (no interceptor), `metrics` (client and server metrics interceptors, atomic
/// backend), `metrics_noop` (the same on swift-metrics' no-op backend), `tracing` (client and server
/// tracing interceptors on swift-distributed-tracing's no-op tracer, the default), `both`.
@main
struct ObservabilityCost {
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

    static func main() async throws {
        let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
        let calls = arguments.first ?? 20_000
        let rounds = arguments.dropFirst().first ?? 7
        let atomic = AtomicMetricsFactory()
        let setups = [
            try await setup("off", client: [], server: []),
            try await setup(
                "metrics", client: [ClientMetricsInterceptor(factory: atomic)],
                server: [ServerMetricsInterceptor(factory: atomic)]),
            try await setup("metrics_noop", client: [ClientMetricsInterceptor(factory: NOOPMetricsHandler.instance)],
                server: [ServerMetricsInterceptor(factory: NOOPMetricsHandler.instance)]),
            try await setup("tracing", client: [ClientTracingInterceptor()], server: [ServerTracingInterceptor()]),
            try await setup(
                "both", client: [ClientMetricsInterceptor(factory: atomic), ClientTracingInterceptor()],
                server: [ServerTracingInterceptor(), ServerMetricsInterceptor(factory: atomic)]),
        ]
        let request = Echo_EchoRequest.with { $0.text = "breakwater-bench" }
        // Warm-up: every method resolved, metric handles made, caches warm.
        for setup in setups {
            for _ in 0..<2_000 { _ = try await setup.client.get(request) }
        }
        var perCall: [String: [Double]] = [:]
        for _ in 0..<rounds {
            for setup in setups {
                let start = ContinuousClock.now
                for _ in 0..<calls { _ = try await setup.client.get(request) }
                let (seconds, attoseconds) = (ContinuousClock.now - start).components
                let ns = (Double(seconds) * 1e9 + Double(attoseconds) / 1e9) / Double(calls)
                perCall[setup.name, default: []].append(ns)
            }
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let off = median(perCall["off"]!)
        print("observability.calls_per_batch=\(calls)")
        print("observability.rounds=\(rounds)")
        for setup in setups {
            let ns = median(perCall[setup.name]!)
            print("observability.\(setup.name).call_ns=\(Int(ns.rounded()))")
            if setup.name != "off" { print("observability.\(setup.name).added_ns=\(Int((ns - off).rounded()))") }
        }
        for setup in setups {
            await setup.grpc.close()
            await setup.server.shutdownGracefully(gracePeriod: .seconds(1))
        }
    }
}
