import ArgumentParser
import BenchSupport
import BreakwaterCore
import BreakwaterHTTP2
import EchoService
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `breakwater-load`: Breakwater's closed-loop load client for `echo.Echo`, with the command line and the
/// output line of the C++ peer (Peers/cpp/echo_load.cc) so that both can be run by the same script.
@main
struct LoadCommand: ParsableArguments {
    static let configuration = CommandConfiguration(
        commandName: "breakwater-load",
        abstract: "Closed-loop gRPC load on echo.Echo (Get or Expand) with Breakwater's HTTP/2 client.",
        discussion: """
            C concurrent callers each start a call when their previous one ended, over one connection \
            (--connections K spreads them round-robin over K). Every response is checked: a non-OK status, \
            a text other than the one sent (unary), or other than exactly M words 'breakwater-bench' \
            (expand) counts as an error, and any error makes the exit status 1. Prints one line: \
            qps p50_us p90_us p99_us max_us calls errors concurrency payload cpu_s peak_rss_kb \
            [msgs_per_s stream_messages]. cpu_s is user+system CPU of this process during the measured \
            run; peak_rss_kb is ru_maxrss; percentiles come from an HDR histogram of nanoseconds (3 digits).
            """
    )

    enum Mode: String, ExpressibleByArgument, Sendable {
        case unary, expand
    }

    @Option(help: "The server, host:port (IPv6 in brackets).") var target: String = ""
    @Option(help: "Concurrent closed-loop callers.") var concurrency = 1
    @Option(help: "Measured calls in all (exclusive with --duration).") var requests = 0
    @Option(help: "Measured seconds (exclusive with --requests).") var duration = 0.0
    @Option(help: "Request text bytes in unary mode ('breakwater-bench' repeated and cut).") var payload = 16
    @Option(help: "Seconds of unmeasured calls first, at the same concurrency.") var warmup = 0.2
    @Option(help: "unary (Get) or expand (server streaming).") var mode: Mode = .unary
    @Option(name: .customLong("stream-messages"), help: "Expand: messages per call.") var streamMessages = 1000
    @Flag(help: "Speak TLS (ALPN h2) instead of plaintext h2c.") var tls = false
    @Option(help: "With --tls: trust only this PEM CA bundle (default: the system's).") var ca: String?
    @Option(name: .customLong("server-name"), help: "With --tls: the name sent as SNI and verified.") var serverName: String?
    @Option(help: "Connections; callers are spread over them round-robin.") var connections = 1
    @Flag(name: .customLong("prefer-loop"), help: "Breakwater only: run each caller on its connection's event loop (task executor preference).")
    var preferLoop = false
    @Option(name: .customLong("idle-poll-us"), help: "Breakwater only: the event loop polls up to this many microseconds (at most 1000; adaptive) before it sleeps.")
    var idlePollUs = 0

    static let usage = """
        usage: breakwater-load --target host:port [--concurrency C] (--requests N | --duration S) [--payload BYTES] \
        [--warmup S] [--mode unary|expand] [--stream-messages M] [--tls [--ca PEM] [--server-name NAME]] \
        [--connections K] [--prefer-loop] [--idle-poll-us US]
        """

    var isValid: Bool {
        parseHostPort(target) != nil && concurrency >= 1 && payload >= 0 && (requests > 0) != (duration > 0)
            && warmup >= 0 && streamMessages >= 1 && connections >= 1 && (0...1000).contains(idlePollUs) && (tls || (ca == nil && serverName == nil))
    }

    static func main() async {
        // stdout carries exactly one line, the figures: whatever the library logs goes to stderr.
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        let command: LoadCommand
        do {
            command = try parse()
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }
            printToStandardError("breakwater-load: \(message(for: error))\n\(usage)")
            Glibc.exit(2)
        }
        guard command.isValid else {
            printToStandardError(usage)
            Glibc.exit(2)
        }
        Glibc.exit(await command.run())
    }

    /// Runs the load and prints the figures; returns the exit status.
    func run() async -> Int32 {
        let (host, port) = parseHostPort(target)!
        var configuration = HTTP2ClientTransport.Configuration()
        if tls {
            configuration.tls = TLSClientConfiguration(
                trustRoots: ca.map { .certificates(.file($0)) } ?? .systemDefault, serverHostname: serverName)
        }
        let group = idlePollUs > 0 ? EventLoopGroup(idlePoll: .microseconds(idlePollUs)) : .shared
        let transports = (0..<connections).map { _ in
            HTTP2ClientTransport(host: host, port: port, configuration: configuration, group: group)
        }
        let clients = transports.map { Echo_EchoClient(wrapping: GRPCClient(transport: $0)) }
        for client in clients {
            if let error = await waitUntilConnected(client) {
                printToStandardError("breakwater-load: cannot connect to \(target): \(error)")
                return 1
            }
        }
        let call: EchoCall = mode == .unary
            ? .unary(text: unaryText(bytes: payload)) : .expand(messages: streamMessages)
        let callers = (0..<concurrency).map { i in
            Caller(echo: clients[i % clients.count], executor: preferLoop ? transports[i % transports.count].eventLoop : nil)
        }

        if warmup > 0 {
            _ = await ClosedLoop(call: call, stop: .seconds(warmup), recording: false).run(callers)
        }
        let cpu0 = ProcessStats.cpuSeconds()
        let measured = ClosedLoop(
            call: call, stop: requests > 0 ? .calls(requests) : .seconds(duration), recording: true)
        let elapsed = await measured.run(callers)
        let cpu = ProcessStats.cpuSeconds() - cpu0

        let summary = measured.summary(elapsedSeconds: elapsed)
        var line = cFormat(
            "qps=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f calls=%ld errors=%ld concurrency=%d payload=%d",
            summary.qps, summary.p50Us, summary.p90Us, summary.p99Us, summary.maxUs, summary.calls, summary.errors,
            Int32(concurrency), Int32(payload))
        line += cFormat(" cpu_s=%.3f peak_rss_kb=%ld", cpu, ProcessStats.peakRSSKiB())
        if mode == .expand {
            line += cFormat(" msgs_per_s=%.1f stream_messages=%d", summary.messagesPerSecond, Int32(streamMessages))
        }
        print(line)
        for transport in transports { await transport.close() }
        return summary.errors > 0 ? 1 : 0
    }
}
