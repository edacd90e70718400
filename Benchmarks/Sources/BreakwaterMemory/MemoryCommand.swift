import ArgumentParser
import BenchSupport

/// `breakwater-memory`: the memory targets of issue 5, printed as `key=value` lines.
@main
struct MemoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "breakwater-memory",
        abstract: "Measure Breakwater's memory: idle client connections, a server holding many streams, RSS over many calls.",
        discussion: """
            The first line is the command; then one key=value line per figure. Each measurement ends with \
            <name>.within_target=yes|no; the exit status is 1 when any is 'no'. The server of idle-client and \
            server-streams is this executable's 'serve' subcommand in a child process; flat-rss runs its server \
            in this process over loopback HTTP/2. Build: swift build -c release --package-path Benchmarks \
            --product breakwater-memory
            """,
        subcommands: [All.self, IdleClient.self, ServerStreams.self, FlatRSS.self, Subchannels.self, Serve.self],
        defaultSubcommand: All.self
    )
}

struct IdleClientOptions: ParsableArguments {
    @Option(name: .customLong("idle-connections"), help: "Idle client connections opened.")
    var idleConnections = 200
}

struct ServerStreamsOptions: ParsableArguments {
    @Option(name: .customLong("server-connections"), help: "Connections the server holds.")
    var serverConnections = 1_000
    @Option(name: .customLong("streams-per-connection"), help: "Open Update streams per connection.")
    var streamsPerConnection = 10
}

struct FlatRSSOptions: ParsableArguments {
    @Option(help: "Sequential unary calls measured.") var calls = 1_000_000
    @Option(name: .customLong("warmup-calls"), help: "Calls before the first sample.") var warmupCalls = 50_000
    @Option(name: .customLong("sample-every"), help: "Calls between RSS samples.") var sampleEvery = 100_000

    func validate() throws {
        guard calls >= 1, warmupCalls >= 0, sampleEvery >= 1 else {
            throw ValidationError("--calls and --sample-every must be >= 1, --warmup-calls >= 0")
        }
    }
}

/// Prints the command line, runs `body`, prints the report; exits 1 when a target was missed.
private func measure(_ body: (inout Report) async throws -> Void) async throws {
    print("command=" + CommandLine.arguments.joined(separator: " "))
    var report = Report()
    try await body(&report)
    report.print()
    if report.lines.contains(where: { $0.hasSuffix(".within_target=no") }) { throw ExitCode(1) }
}

extension MemoryCommand {
    struct All: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "All three measurements (the default).")
        @OptionGroup var idle: IdleClientOptions
        @OptionGroup var streams: ServerStreamsOptions
        @OptionGroup var flat: FlatRSSOptions
        func run() async throws {
            try await measure { report in
                try await Measurements.idleClientConnections(idle.idleConnections, targetKiB: 64, into: &report)
                try await Measurements.serverHoldingStreams(
                    connections: streams.serverConnections, streamsPerConnection: streams.streamsPerConnection,
                    targetMiB: 256, into: &report)
                try await Measurements.flatRSS(
                    calls: flat.calls, warmupCalls: flat.warmupCalls, sampleEvery: flat.sampleEvery,
                    targetPercent: 5, into: &report)
            }
        }
    }

    struct IdleClient: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "idle-client", abstract: "(a) RSS per idle client connection (target <= 64 KiB).")
        @OptionGroup var idle: IdleClientOptions
        func run() async throws {
            try await measure { try await Measurements.idleClientConnections(idle.idleConnections, targetKiB: 64, into: &$0) }
        }
    }

    struct ServerStreams: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "server-streams",
            abstract: "(b) Server memory holding 1,000 connections x 10 open streams (target < 256 MiB).")
        @OptionGroup var streams: ServerStreamsOptions
        func run() async throws {
            try await measure {
                try await Measurements.serverHoldingStreams(
                    connections: streams.serverConnections, streamsPerConnection: streams.streamsPerConnection,
                    targetMiB: 256, into: &$0)
            }
        }
    }

    struct FlatRSS: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "flat-rss", abstract: "(c) RSS over 1,000,000 sequential unary calls (flat within 5%).")
        @OptionGroup var flat: FlatRSSOptions
        func run() async throws {
            try await measure {
                try await Measurements.flatRSS(
                    calls: flat.calls, warmupCalls: flat.warmupCalls, sampleEvery: flat.sampleEvery,
                    targetPercent: 5, into: &$0)
            }
        }
    }

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve echo.Echo on 127.0.0.1 (a free port), print PORT n (used by the measurements).",
            shouldDisplay: false)
        @Option(help: "The address to listen on.") var host = "127.0.0.1"
        func run() async throws { try await ServerProcess.serve(host: host) }
    }

    struct Subchannels: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "(d) A round_robin target of many endpoints: memory per idle subchannel (target <= 64 KiB), and calls per second against a 3-endpoint target (a pick that stays O(1) keeps the ratio near 1).")
        @Option(help: "Endpoints of the target (127.0.0.1 ... 127.0.0.N).") var endpoints = 100
        @Option(help: "Sequential calls timed on each target.") var calls = 20_000
        func run() async throws {
            try await measure {
                try await Measurements.subchannels(endpoints, calls: calls, targetKiB: 64, into: &$0)
            }
        }
    }
}
