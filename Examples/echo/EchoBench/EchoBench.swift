import ArgumentParser
import BreakwaterCore

/// `echo-bench`: the unary latency, throughput, resilience-chain overhead, OPEN rejection time and
/// deadline precision of Breakwater's echo example, printed as `key=value` lines and a short table.
@main
struct EchoBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-bench",
        abstract: "Measure Breakwater's echo example: latency, throughput, chain overhead, OPEN rejection, deadlines.",
        discussion: """
            Every response is checked (its text equals the 16-byte request); a wrong answer or an unexpected \
            status counts in errors=. Each figure is the median over --rounds rounds; the per-round values \
            follow as '# rounds' lines. Build with: swift build -c release --product echo-bench
            """,
        subcommands: [All.self, Latency.self, Throughput.self, Chain.self, Open.self, Deadline.self, Hedge.self, Limit.self],
        defaultSubcommand: All.self
    )
}

/// Options every subcommand takes.
struct CommonOptions: ParsableArguments {
    @Option(help: "An external echo server (host:port) for latency and throughput; default: our own on 127.0.0.1:0.")
    var target: String?

    @Option(help: "How many rounds; each figure is the median over them (default: 5 for all, 1 otherwise).")
    var rounds: Int?

    @Flag(name: .customLong("prefer-loop"), help: "Run the callers with the connection's event loop as task executor.")
    var preferLoop = false

    @Flag(help: "Print only the key=value lines.")
    var quiet = false

    @Option(name: .customLong("tls-dir"), help: "Run latency and throughput over TLS with ca.pem, server.pem, server.key from this folder (scripts/make-dev-certs.sh).")
    var tlsDirectory: String?

    func settings() throws -> BenchSettings {
        var s = BenchSettings()
        s.preferLoop = preferLoop
        s.tlsDirectory = tlsDirectory
        if let target {
            guard let colon = target.lastIndex(of: ":"), let port = Int(target[target.index(after: colon)...]),
                  (1...65535).contains(port) else {
                throw ValidationError("--target must be host:port, got \(target)")
            }
            var host = String(target[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            s.target = .external(host: host, port: port)
        }
        return s
    }

    func validateRounds() throws {
        if let rounds, rounds < 1 { throw ValidationError("--rounds must be >= 1, got \(rounds)") }
    }
}

/// Runs `bodies` for `rounds` rounds and prints the figures.
func runRounds(
    _ common: CommonOptions, settings: BenchSettings, defaultRounds: Int = 1,
    _ steps: [(Benchmarks, inout Figures) async throws -> Void]
) async throws {
    let rounds = common.rounds ?? defaultRounds
    let benchmarks = Benchmarks(settings: settings)
    var figures = Figures()
    let clock = ContinuousClock()
    let start = clock.now
    for round in 1...rounds {
        if !common.quiet, rounds > 1 { print("# round \(round)/\(rounds)") }
        for step in steps { try await step(benchmarks, &figures) }
    }
    let errors = figures.keys.filter { $0.hasSuffix(".errors") }.reduce(0.0) { sum, key in
        sum + figures.values[key]!.reduce(0, +)
    }
    figures.record("rounds", Double(rounds))
    figures.record("errors", errors)
    figures.record("wall_s", (clock.now - start).seconds)
    figures.printKeyValues()
    if !common.quiet { printTable(figures) }
    if errors > 0 { throw ExitCode(1) }
}

/// A short human-readable table of the figures present.
func printTable(_ f: Figures) {
    func v(_ key: String) -> String { f.median(key).map(Figures.format) ?? "-" }
    var rows: [(String, String)] = []
    for (k, note) in [("latency", ""), ("latency_loop", ", loop executor")] where f.values["\(k).p50_us"] != nil {
        rows.append(("unary latency, 1 caller\(note) (us)",
                     "p50 \(v("\(k).p50_us"))  p90 \(v("\(k).p90_us"))  p99 \(v("\(k).p99_us"))  max \(v("\(k).max_us"))  (\(v("\(k).qps")) calls/s)"))
    }
    for key in f.keys where key.hasPrefix("throughput") && key.hasSuffix(".qps") {
        let prefix = String(key.dropLast(".qps".count))
        let loop = prefix.hasPrefix("throughput_loop")
        let c = prefix.split(separator: ".").last!.dropFirst()
        rows.append(("throughput, \(c) concurrent, 1 conn\(loop ? ", loop executor" : "")",
                     "\(v(key)) qps  p50 \(v(prefix + ".p50_us")) us  p99 \(v(prefix + ".p99_us")) us  cpu \(v(prefix + ".cpu_us_per_call")) us/call"))
    }
    for kind in ["inproc", "http2"] where f.values["chain.\(kind).bare_ns"] != nil {
        rows.append(("chain overhead, \(kind) (ns/call)",
                     "bare \(v("chain.\(kind).bare_ns"))  bare+deadline \(v("chain.\(kind).bare_deadline_ns"))  chained \(v("chain.\(kind).chained_ns"))  added \(v("chain.\(kind).added_ns"))  ratio \(v("chain.\(kind).ratio"))"))
    }
    for kind in ["inproc", "http2"] where f.values["open.\(kind).ns_per_call"] != nil {
        rows.append(("OPEN rejection, \(kind) (ns/call)",
                     "mean \(v("open.\(kind).ns_per_call"))  p50 \(v("open.\(kind).p50_ns"))  p99 \(v("open.\(kind).p99_ns"))  server calls \(v("open.\(kind).server_calls"))  r/w syscalls \(v("open.\(kind).rw_syscalls"))"))
    }
    for name in ["bare", "chained"] where f.values["deadline.\(name).late_p50_ms"] != nil {
        rows.append(("deadline 50 ms, \(name): late by (ms)",
                     "p50 \(v("deadline.\(name).late_p50_ms"))  p99 \(v("deadline.\(name).late_p99_ms"))  max \(v("deadline.\(name).late_max_ms"))"))
    }
    for name in ["plain", "hedged"] where f.values["hedge.\(name).p99_ms"] != nil {
        rows.append(("5% of calls 200 ms, \(name) (ms)",
                     "p50 \(v("hedge.\(name).p50_ms"))  p90 \(v("hedge.\(name).p90_ms"))  p99 \(v("hedge.\(name).p99_ms"))  p99.9 \(v("hedge.\(name).p999_ms"))  max \(v("hedge.\(name).max_ms"))  server calls/call \(v("hedge.\(name).server_calls_per_call"))"))
    }
    for name in ["plain", "bulkhead16", "adaptive"] where f.values["limit.\(name).goodput_qps"] != nil {
        rows.append(("latency grows with load, \(name)",
                     "goodput \(v("limit.\(name).goodput_qps")) qps  p50 \(v("limit.\(name).p50_ms")) ms  p99 \(v("limit.\(name).p99_ms")) ms  deadline \(v("limit.\(name).deadline_qps"))/s  unavailable \(v("limit.\(name).unavailable_qps"))/s  rejected \(v("limit.\(name).rejected_qps"))/s (p50 \(v("limit.\(name).reject_p50_us")) us)  server \(v("limit.\(name).server_qps")) qps"))
    }
    rows.append(("errors", v("errors")))
    let width = rows.map(\.0.count).max() ?? 0
    print("")
    for (name, value) in rows {
        print(name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value)
    }
}

extension EchoBenchCommand {
    struct All: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every figure, median of 5 rounds (the default).")
        @OptionGroup var common: CommonOptions
        func validate() throws { try common.validateRounds() }
        func run() async throws {
            var settings = try common.settings()
            // Each round measures latency and throughput twice: callers on the global executor (how most
            // code calls), then with the connection's event loop as their task executor (no thread hop).
            settings.duration = .milliseconds(700)
            let bothExecutors = !settings.preferLoop
            try await runRounds(common, settings: settings, defaultRounds: 5, [
                { try await $0.latency(into: &$1) },
                { try await $0.throughput(into: &$1) },
                { b, f in
                    guard bothExecutors else { return }
                    var onLoop = b
                    onLoop.settings.preferLoop = true
                    try await onLoop.latency(into: &f)
                    try await onLoop.throughput(into: &f)
                },
                { try await $0.chain(into: &$1) },
                { try await $0.openRejection(into: &$1) },
                { try await $0.deadline(into: &$1) },
            ])
        }
    }

    struct Latency: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Unary round-trip latency, 1 caller, 1 connection.")
        @OptionGroup var common: CommonOptions
        @Option(help: "Measured calls.") var calls = 5_000
        @Option(help: "Warm-up calls.") var warmup = 500
        func validate() throws { try common.validateRounds() }
        func run() async throws {
            var s = try common.settings()
            s.calls = calls
            s.warmup = warmup
            try await runRounds(common, settings: s, [{ try await $0.latency(into: &$1) }])
        }
    }

    struct Throughput: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Closed-loop qps at --concurrency and at 1, 1 connection.")
        @Option(help: "Concurrent callers.") var concurrency = 64
        @Option(name: .customLong("duration-ms"), help: "Duration of each measurement.") var durationMs = 1_000
        @OptionGroup var common: CommonOptions
        func validate() throws { try common.validateRounds() }
        func run() async throws {
            var s = try common.settings()
            s.concurrency = concurrency
            s.duration = .milliseconds(durationMs)
            try await runRounds(common, settings: s, [{ try await $0.throughput(into: &$1) }])
        }
    }

    struct Chain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Added ns/call of Timeout+Retry+CircuitBreaker (CLOSED, success), in-process and HTTP/2."
        )
        @OptionGroup var common: CommonOptions
        @Option(help: "Calls per variant over the in-process transport.") var inprocCalls = 20_000
        @Option(help: "Calls per variant over HTTP/2.") var http2Calls = 3_000
        @Flag(help: "Also time each interceptor alone, and process CPU per call of each variant.") var breakdown = false
        func validate() throws { try common.validateRounds() }
        func run() async throws {
            var s = try common.settings()
            s.chainBreakdown = breakdown
            s.chainCallsInProcess = inprocCalls
            s.chainCallsHTTP2 = http2Calls
            try await runRounds(common, settings: s, [{ try await $0.chain(into: &$1) }])
        }
    }

    struct Open: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time to reject a call when the breaker is OPEN (tripped by a failing server)."
        )
        @OptionGroup var common: CommonOptions
        @Option(help: "Rejected calls timed per transport.") var calls = 20_000
        func validate() throws { try common.validateRounds() }
        func run() async throws {
            var s = try common.settings()
            s.openCalls = calls
            try await runRounds(common, settings: s, [{ try await $0.openRejection(into: &$1) }])
        }
    }

    struct Hedge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Unary latency against a server whose --slow-rate of calls take --slow-ms: plain vs hedged (HTTP/2).",
            discussion: "Not part of 'all'. The hedged client is the standard chain with a hedgingPolicy and a retry throttle."
        )
        @OptionGroup var common: CommonOptions
        @Option(help: "Measured calls per variant.") var calls = 4_000
        @Option(help: "Concurrent callers.") var concurrency = 8
        @Option(help: "Share of server calls that are slow.") var slowRate = 0.05
        @Option(help: "How slow a slow call is (ms).") var slowMs = 200
        @Option(help: "The hedging delay (ms).") var hedgingDelayMs = 10
        @Option(help: "The hedging policy's maxAttempts (2...5).") var maxAttempts = 2
        func validate() throws {
            try common.validateRounds()
            guard calls >= concurrency, concurrency >= 1 else { throw ValidationError("need calls >= concurrency >= 1") }
            guard (0...1).contains(slowRate) else { throw ValidationError("--slow-rate must be in 0...1") }
            guard (2...5).contains(maxAttempts) else { throw ValidationError("--max-attempts must be in 2...5") }
        }
        func run() async throws {
            var hedge = HedgingBenchSettings()
            hedge.calls = calls
            hedge.concurrency = concurrency
            hedge.slowRate = slowRate
            hedge.slowDelay = .milliseconds(slowMs)
            hedge.hedgingDelay = .milliseconds(hedgingDelayMs)
            hedge.maxAttempts = maxAttempts
            try await runRounds(common, settings: try common.settings(), [{ try await $0.hedging(hedge, into: &$1) }])
        }
    }

    struct Limit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Goodput and p99 against a server whose latency is --ms-per-call x its calls in flight: plain, bulkhead, adaptive.",
            discussion: "Not part of 'all'. Closed-loop callers, each call with --deadline-ms; a rejected caller pauses 1 ms."
        )
        @OptionGroup var common: CommonOptions
        @Option(help: "Closed-loop callers.") var callers = 64
        @Option(name: .customLong("duration-ms"), help: "Duration of each variant.") var durationMs = 3_000
        @Option(help: "Server latency per call in flight (ms).") var msPerCall = 1
        @Option(help: "Each call's deadline (ms).") var deadlineMs = 40
        func validate() throws {
            try common.validateRounds()
            guard callers >= 1, durationMs >= 1, msPerCall >= 0, deadlineMs >= 1 else { throw ValidationError("values must be positive") }
        }
        func run() async throws {
            var bench = ConcurrencyLimitBenchSettings()
            bench.callers = callers
            bench.duration = .milliseconds(durationMs)
            bench.delayPerConcurrentCall = .milliseconds(msPerCall)
            bench.deadline = .milliseconds(deadlineMs)
            try await runRounds(common, settings: try common.settings(), [{ try await $0.concurrencyLimit(bench, into: &$1) }])
        }
    }

    struct Deadline: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "How late DEADLINE_EXCEEDED arrives for 50 ms calls to a handler that never answers."
        )
        @OptionGroup var common: CommonOptions
        @Option(help: "Calls per variant.") var calls = 12
        func validate() throws { try common.validateRounds() }
        func run() async throws {
            var s = try common.settings()
            s.deadlineCalls = calls
            try await runRounds(common, settings: s, [{ try await $0.deadline(into: &$1) }])
        }
    }
}
