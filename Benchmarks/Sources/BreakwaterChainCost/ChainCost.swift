import BenchSupport
import BreakwaterCore
import BreakwaterResilience
import EchoService

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// What the standard resilience chain adds to a unary call, and what an OPEN breaker's rejection costs,
/// as `key=value` lines: medians over rounds of interleaved batches, so that the machine's drift touches
/// every configuration alike.
///
///     breakwater-chain-cost [calls-per-batch (20000)] [rounds (9)] [configuration]
///
/// Unary `Get` calls, one caller, over the in-process transport (a server in this process):
/// - `bare`: no interceptor, no deadline;
/// - `deadline`: no interceptor, the 30 s deadline the chain gives every call;
/// - `closed`: the standard chain (30 s timeout, retry of UNAVAILABLE with a throttle, a consecutive-failures
///   breaker), its breaker CLOSED;
/// - `open`: the same chain in front of a server that fails every call, its breaker tripped for real and OPEN
///   for an hour: every call is rejected before its request is serialized;
///
/// and over `InstantTransport`, which answers in the caller's task with no server, thread or hop:
/// - `instant`: no interceptor, the 30 s deadline;
/// - `instant-closed`: the standard chain, CLOSED;
/// - `instant-pass`: one interceptor that only calls `next`, and the 30 s deadline.
///
/// `closed.over_deadline_ns` is what the chain adds to an in-process call (`deadline` has the same deadline,
/// so what the transport spends on it is in both); `instant-closed.over_instant_ns` is the chain's own work,
/// without the in-process server's threads, whose scheduling moves the in-process figures by microseconds;
/// `instant-pass.over_instant_ns` is what any interceptor level costs (its task frames and hops), the
/// part of the chain's figure that is not its own decisions.
/// Each figure as wall time (`ns`) and as the process's CPU time (`cpu_ns`), which other processes on a
/// loaded machine inflate much less.
///
/// A third argument runs that configuration alone (its setup included), for counting instructions, which
/// no load inflates: `valgrind --tool=callgrind` at two batch sizes, and the difference of the totals over
/// the difference of the calls (the open and instant configurations make ten times the calls of a batch).
@main
struct ChainCost {
    struct Setup {
        let name: String
        let client: Echo_EchoClient
        let grpc: GRPCClient
        let server: GRPCServer
        /// Whether its calls must be rejected by the breaker (else they must echo).
        let rejects: Bool
        /// Whether it calls over `InstantTransport`.
        let instant: Bool
    }

    enum Failure: Error, CustomStringConvertible {
        case breakerDidNotOpen
        case wrongAnswer(String)
        var description: String {
            switch self {
            case .breakerDidNotOpen: "the OPEN configuration's breaker did not open"
            case .wrongAnswer(let name): "\(name): a call did not end as it must"
            }
        }
    }

    static let request = Echo_EchoRequest.with { $0.text = "breakwater-bench" }

    static func setup(
        _ name: String, chain: Bool, deadline: Bool, failing: Bool = false, instant: Bool = false, passThrough: Bool = false
    ) async throws -> Setup {
        let transport = InProcessTransport()
        let provider = EchoProvider(faults: failing ? EchoProvider.Faults(failRate: 1) : .none)
        let server = GRPCServer(transport: transport.server, services: [provider])
        _ = try await server.start()
        let client: any ClientTransport = instant ? InstantTransport() : transport.client
        let options = deadline ? CallOptions(timeout: .seconds(30)) : .defaults
        let grpc: GRPCClient
        if chain {
            let resilience = try ResilienceConfiguration.serviceConfig(json: standardChainServiceConfig, target: "in-process-\(name)")
            grpc = GRPCClient(transport: client, resilience: resilience, defaultOptions: options)
            if failing {
                let client = Echo_EchoClient(wrapping: grpc)
                // Five failed attempts trip the breaker; the retries of UNAVAILABLE count as attempts.
                for _ in 0..<20 { _ = try? await client.get(request) }
                let key = BreakerKey(target: "in-process-\(name)", method: Echo_Echo.Method.Get.descriptor, scope: .method)
                guard resilience.registry.existingBreaker(for: key)?.currentState == .open else { throw Failure.breakerDidNotOpen }
            }
        } else if passThrough {
            grpc = GRPCClient(transport: client, interceptors: [.apply(PassThroughInterceptor(), to: .all)], defaultOptions: options)
        } else {
            grpc = GRPCClient(transport: client, defaultOptions: options)
        }
        return Setup(name: name, client: Echo_EchoClient(wrapping: grpc), grpc: grpc, server: server, rejects: failing, instant: instant)
    }

    /// `calls` sequential calls; false when one did not end as the configuration says.
    static func batch(_ setup: Setup, calls: Int) async -> Bool {
        var correct = true
        for _ in 0..<calls {
            do {
                let response = try await setup.client.get(request)
                if setup.rejects || response.text != request.text { correct = false }
            } catch let error as RPCError where error.isCircuitBreakerRejection {
                if !setup.rejects { correct = false }
            } catch {
                correct = false
            }
        }
        return correct
    }

    static func main() async throws {
        let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
        let calls = arguments.first ?? 20_000
        let rounds = arguments.dropFirst().first ?? 9
        print("chain.calls_per_batch=\(calls)")
        print("chain.rounds=\(rounds)")
        let only = CommandLine.arguments.dropFirst(3).first
        var setups: [Setup] = []
        // name, chain, deadline, failing, instant, pass-through
        for (name, chain, deadline, failing, instant, passThrough) in [
            ("bare", false, false, false, false, false), ("deadline", false, true, false, false, false),
            ("closed", true, false, false, false, false), ("open", true, false, true, false, false),
            ("instant", false, true, false, true, false), ("instant-closed", true, false, false, true, false),
            ("instant-pass", false, true, false, true, true),
        ] where only == nil || only == name {
            setups.append(
                try await setup(
                    name, chain: chain, deadline: deadline, failing: failing, instant: instant, passThrough: passThrough))
        }
        guard !setups.isEmpty else {
            print("no configuration named \(only ?? "")")
            exit(2)
        }
        for setup in setups where await !batch(setup, calls: 2_000) { throw Failure.wrongAnswer(setup.name) }
        var wall: [String: [Double]] = [:]
        var cpu: [String: [Double]] = [:]
        for round in 0..<rounds {
            // Rotate the order, so that no configuration always runs first or last in a round.
            for index in 0..<setups.count {
                let setup = setups[(index + round) % setups.count]
                // Rejections and instant calls are some ten times faster: more of them, for a batch as long.
                let count = setup.rejects || setup.instant ? calls * 10 : calls
                let start = ContinuousClock.now
                let cpuStart = BatchTiming.processCPUNanoseconds()
                guard await batch(setup, calls: count) else { throw Failure.wrongAnswer(setup.name) }
                wall[setup.name, default: []].append(BatchTiming.nanoseconds(.now - start, per: count))
                cpu[setup.name, default: []].append((BatchTiming.processCPUNanoseconds() - cpuStart) / Double(count))
            }
        }
        for setup in setups {
            print("chain.\(setup.name).ns=\(Int(BatchTiming.median(wall[setup.name]!).rounded()))")
            print("chain.\(setup.name).cpu_ns=\(Int(BatchTiming.median(cpu[setup.name]!).rounded()))")
        }
        // Differences of the round's own figures, then their median: the rounds pair the configurations.
        for (name, base) in [
            ("deadline", "bare"), ("closed", "deadline"), ("closed", "bare"), ("instant-closed", "instant"),
            ("instant-pass", "instant"),
        ]
        where wall[name] != nil && wall[base] != nil {
            let added = zip(wall[name]!, wall[base]!).map { $0 - $1 }
            let cpuAdded = zip(cpu[name]!, cpu[base]!).map { $0 - $1 }
            print("chain.\(name).over_\(base)_ns=\(Int(BatchTiming.median(added).rounded()))")
            print("chain.\(name).cpu_over_\(base)_ns=\(Int(BatchTiming.median(cpuAdded).rounded()))")
        }
        for setup in setups {
            await setup.grpc.close()
            await setup.server.shutdownGracefully(gracePeriod: .seconds(1))
        }
    }
}

/// An interceptor that only calls `next`: what one asynchronous interceptor level costs by itself.
struct PassThroughInterceptor: ClientInterceptor {
    func intercept(
        request: ClientRequest, context: ClientContext,
        next: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        try await next(request, context)
    }
}
