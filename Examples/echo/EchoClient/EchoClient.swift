import ArgumentParser
import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterObservability
import BreakwaterResilience
import EchoService
import Foundation
import Logging
import Synchronization

/// `echo-client`: calls `echo.Echo` and prints what it sent, what it received and the final status.
///
/// With `--config FILE` every call runs through the standard resilience chain (Timeout, Retry,
/// CircuitBreaker) built from a gRPC service-config JSON, and the breakers' state changes are printed
/// as they happen. With `--count N` each call gets one line: its status and its latency.
@main
struct EchoClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-client",
        abstract: "Call echo.Echo (Protos/echo.proto) over gRPC and print each message and the status.",
        discussion: """
            With --config, calls run through Timeout -> Retry -> CircuitBreaker with the per-method policies \
            of a service-config JSON (for example Examples/echo/resilience.json); breaker state changes are \
            printed as they happen. Exit status: 0 when every call succeeded (a fallback answer counts), \
            1 when some call failed, 2 when the --config file is invalid.
            """
    )

    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case get, expand, collect, update
    }

    @Option(help: "The server's host.")
    var host = "127.0.0.1"

    @Option(help: "The server's port.")
    var port = 50051

    @Option(
        help: ArgumentHelp(
            "A gRPC target instead of --host/--port: dns:///host:port, ipv4:a:p,b:p, ipv6:[a]:p,[b]:p, unix:/path, unix-abstract:name.",
            valueName: "target"))
    var target: String?

    enum Balancing: String, ExpressibleByArgument, CaseIterable {
        case pick_first, round_robin, least_request
    }

    @Option(help: "How --target's endpoints share the calls (default: the --config file's loadBalancingConfig, else pick_first).")
    var lb: Balancing?

    @Option(
        name: .customLong("health-check"),
        help: ArgumentHelp("With --target: each endpoint takes calls only while its grpc.health.v1 says SERVING for this service ('' for the whole server); not with pick_first.", valueName: "service"))
    var healthCheck: String?

    @Option(
        name: .customLong("eject-after"),
        help: "Eject an endpoint for a while after N failures in a row (outlier detection; needs --target).")
    var ejectAfter: Int?

    @Option(name: .customLong("ejection-ms"), help: "The first ejection's length in milliseconds (default 30000; needs --eject-after).")
    var ejectionMs: Int?

    @Option(name: .customLong("concurrency"), help: "Callers making --count calls together (default 1).")
    var concurrency = 1

    @Option(help: "get (unary), expand (server streaming), collect (client streaming), update (bidi).")
    var mode: Mode = .get

    @Option(help: "The text to send. collect and update send one message per word.")
    var text = "hello breakwater"

    @Option(name: .customLong("timeout-ms"), help: "The deadline of each call, in milliseconds.")
    var timeoutMs: Int?

    @Option(help: "How many calls to make, one after the other. With more than one, each call gets one line.")
    var count = 1

    @Option(name: .customLong("interval-ms"), help: "Milliseconds to wait between two calls.")
    var intervalMs = 0

    @Option(
        help: ArgumentHelp(
            "A gRPC service-config JSON: per-method timeout, retryPolicy and circuitBreakerPolicy.",
            valueName: "file"
        )
    )
    var config: String?

    @Option(
        help: ArgumentHelp(
            "Answer with this text when a circuit breaker rejects a call (needs --config).",
            valueName: "text"
        )
    )
    var fallback: String?

    @Option(
        name: .customLong("keepalive-ms"),
        help: "Keepalive (gRFC A8): PING a connection with calls open after this many milliseconds without reading anything.")
    var keepaliveMs: Int?

    @Option(
        name: .customLong("keepalive-timeout-ms"),
        help: "Close a connection when nothing answers its keepalive PING within this many milliseconds (default 20000; needs --keepalive-ms).")
    var keepaliveTimeoutMs: Int?

    @Flag(
        name: .customLong("wait-for-ready"),
        help: "Calls wait (up to their deadline) for the connection to be ready instead of failing at once while it is in TRANSIENT_FAILURE.")
    var waitForReady = false

    @Flag(help: "Also log the breakers' and the connection's state changes (breakers through swift-log, to standard error).")
    var verbose = false

    @Flag(name: .customLong("print-spans"), help: "Trace every call and print its span on standard error (the trace context goes to the server).")
    var printSpans = false

    @Flag(help: "Connect over TLS, verifying the server (the system trust store unless --ca).")
    var tls = false

    @Option(help: ArgumentHelp("A PEM CA bundle to verify the server against (implies --tls).", valueName: "file"))
    var ca: String?

    @Option(help: ArgumentHelp("A PEM client certificate chain for mutual TLS (needs --key; implies --tls).", valueName: "file"))
    var cert: String?

    @Option(help: ArgumentHelp("The PEM private key of --cert.", valueName: "file"))
    var key: String?

    @Option(name: .customLong("server-name"), help: "The name expected in the server's certificate and sent as SNI (default: --host).")
    var serverName: String?

    @Flag(name: .customLong("insecure-skip-verify"), help: "DEVELOPMENT ONLY: accept any server certificate (implies --tls).")
    var insecureSkipVerify = false

    /// The TLS configuration the flags ask for; nil for plaintext (h2c).
    var tlsConfiguration: TLSClientConfiguration? {
        guard tls || ca != nil || cert != nil || serverName != nil || insecureSkipVerify else { return nil }
        return TLSClientConfiguration(
            trustRoots: ca.map { .certificates(.file($0)) } ?? .systemDefault,
            verification: insecureSkipVerify ? .insecureSkipVerification_DEVELOPMENT_ONLY : .full,
            serverHostname: serverName,
            certificateChain: cert.map { .file($0) },
            privateKey: key.map { .file($0) }
        )
    }

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be in 1...65535, got \(port)") }
        guard count >= 1 else { throw ValidationError("--count must be >= 1, got \(count)") }
        guard intervalMs >= 0 else { throw ValidationError("--interval-ms must be >= 0, got \(intervalMs)") }
        if let timeoutMs, timeoutMs <= 0 { throw ValidationError("--timeout-ms must be > 0, got \(timeoutMs)") }
        if let keepaliveMs, keepaliveMs <= 0 { throw ValidationError("--keepalive-ms must be > 0, got \(keepaliveMs)") }
        if let keepaliveTimeoutMs {
            guard keepaliveMs != nil else { throw ValidationError("--keepalive-timeout-ms needs --keepalive-ms") }
            guard keepaliveTimeoutMs > 0 else { throw ValidationError("--keepalive-timeout-ms must be > 0, got \(keepaliveTimeoutMs)") }
        }
        if (cert == nil) != (key == nil) { throw ValidationError("--cert and --key go together") }
        if target == nil, lb != nil || ejectAfter != nil || healthCheck != nil {
            throw ValidationError("--lb, --eject-after and --health-check need --target")
        }
        if let ejectAfter, ejectAfter <= 0 { throw ValidationError("--eject-after must be > 0, got \(ejectAfter)") }
        if let ejectionMs, ejectionMs <= 0 { throw ValidationError("--ejection-ms must be > 0, got \(ejectionMs)") }
        if ejectionMs != nil, ejectAfter == nil { throw ValidationError("--ejection-ms needs --eject-after") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be >= 1, got \(concurrency)") }
        if let target {
            do { _ = try ClientTarget(target) } catch { throw ValidationError(error.message) }
        }
        if fallback != nil, config == nil {
            throw ValidationError("--fallback needs --config: without a circuit breaker nothing is ever rejected")
        }
    }

    func run() async throws {
        var configuration = HTTP2ClientTransport.Configuration()
        configuration.tls = tlsConfiguration
        if let keepaliveMs {
            configuration = configuration.keepalive(
                time: .milliseconds(keepaliveMs), timeout: .milliseconds(keepaliveTimeoutMs ?? 20_000))
        }
        let transport: HTTP2ClientTransport
        let started = ContinuousClock.now
        var endpointPrinting: Task<Void, Never>?
        if let target {
            var balancing = LoadBalancingConfig.pickFirst
            // The --config file's loadBalancingConfig, unless --lb says otherwise.
            if let config, let json = FileManager.default.contents(atPath: config),
                let parsed = try? ServiceConfig(json: json).loadBalancing
            {
                balancing = parsed
            }
            switch lb {
            case .pick_first?: balancing.policy = .pickFirst
            case .round_robin?: balancing.policy = .roundRobin
            case .least_request?: balancing.policy = .leastRequest()
            case nil: break
            }
            if let healthCheck { balancing.healthCheckServiceName = healthCheck }
            if let ejectAfter {
                balancing.outlierDetection = OutlierDetectionPolicy(
                    interval: .seconds(1), baseEjectionTime: .milliseconds(ejectionMs ?? 30_000), maxEjectionPercent: 50,
                    consecutiveFailures: ejectAfter)
            }
            transport = try HTTP2ClientTransport(target: target, loadBalancing: balancing, configuration: configuration)
            say("target \(target): \(balancing.policy)" + (balancing.outlierDetection.map { " with ejection after \($0.consecutiveFailures ?? 0) failures in a row" } ?? ""))
            // Every endpoint's events as they happen: added, connectivity, ejected, returned.
            endpointPrinting = Self.printEndpointEvents(of: transport, since: started)
        } else {
            transport = HTTP2ClientTransport(host: host, port: port, configuration: configuration)
        }
        // With --verbose: the connection's states as they change (a dead connection found: READY -> IDLE).
        let connectivity = verbose ? Self.printConnectivity(of: transport, since: started) : nil
        let compact = count > 1
        let fallbackUses = FallbackLog()
        let printer = BreakerEventPrinter(started: compact ? started : nil)
        // Innermost: counts the attempts that went to the network (a breaker rejection never gets here).
        let sent = AttemptCounter()

        // With --print-spans: outermost, so that one span covers each call and its retries.
        let tracing: [ConditionalInterceptor<any ClientInterceptor>] =
            printSpans ? [.apply(ClientTracingInterceptor(tracer: PrintingTracer()), to: .all)] : []
        let client: GRPCClient
        var resilience: ResilienceConfiguration?
        var printing: Task<Void, Never>?
        if let config {
            var logger = Logger(label: "breakwater.circuit-breaker")
            logger.logLevel = verbose ? .info : .warning
            // The printer counts what the registry reports, so that it can wait until it printed it all.
            let registry = CircuitBreakerRegistry(logger: logger, observer: { _ in printer.reported() })
            var fallbackHandler: CircuitBreakerInterceptor.Fallback?
            if let fallback {
                // Every echo.Echo method answers Echo_EchoResponse messages: one message with the text.
                let answer: [UInt8] = try Echo_EchoResponse.with { $0.text = fallback }.serializedBytes()
                fallbackHandler = { rejection, _ in
                    fallbackUses.record(rejection)
                    return ClientResponse(messages: [answer])
                }
            }
            let loaded: ResilienceConfiguration
            do {
                // One target per process: breaker keys name only the service and method (`echo.Echo/Get`).
                loaded = try ResilienceConfiguration.serviceConfig(
                    file: config, target: "", registry: registry, fallback: fallbackHandler
                )
            } catch {
                FileHandle.standardError.write(Data("echo-client: invalid --config \(config): \(error)\n".utf8))
                throw ExitCode(2)
            }
            let events = registry.events(bufferingNewest: 4096)
            printing = Task { await printer.run(events) }
            resilience = loaded
            client = GRPCClient(
                transport: transport, interceptors: tracing + loaded.interceptors + [.apply(sent, to: .all)])
        } else {
            client = GRPCClient(transport: transport, interceptors: tracing + [.apply(sent, to: .all)])
        }
        let echo = Echo_EchoClient(wrapping: client)
        var options = CallOptions()
        if let timeoutMs { options.timeout = .milliseconds(timeoutMs) }
        if waitForReady { options.waitForReady = true }

        var tally = Tally()
        if concurrency > 1 {
            // Several callers; one line per call still, in the order they end.
            let shared = SharedTally()
            let (mode, text, count, intervalMs, options) = (self.mode, self.text, self.count, self.intervalMs, options)
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<concurrency {
                    group.addTask {
                        while true {
                            let index = shared.state.withLock { s -> Int in
                                defer { s.next += 1 }
                                return s.next
                            }
                            guard index <= count else { return }
                            let callStarted = ContinuousClock.now
                            let line: String
                            do {
                                _ = try await Self.call(echo, mode: mode, text: text, options: options, verbose: false)
                                shared.state.withLock { $0.tally.succeeded += 1 }
                                line = "OK (\(Self.format(ContinuousClock.now - callStarted)))"
                            } catch let error as RPCError {
                                shared.state.withLock {
                                    $0.tally.failed += 1
                                    if error.isCircuitBreakerRejection { $0.tally.rejected += 1 }
                                }
                                line = "\(error.code.name): \(error.message)"
                            } catch {
                                shared.state.withLock { $0.tally.failed += 1 }
                                line = "\(error)"
                            }
                            say("\(Self.stamp(since: started)) call \(index)/\(count) \(line)")
                            if intervalMs > 0 { try? await Task.sleep(for: .milliseconds(intervalMs)) }
                        }
                    }
                }
            }
            tally = shared.state.withLock { $0.tally }
        }
        for index in 1...count where concurrency == 1 {
            if index > 1, intervalMs > 0 { try? await Task.sleep(for: .milliseconds(intervalMs)) }
            let callStarted = ContinuousClock.now
            let sentBefore = sent.count
            var line: String
            do {
                let received = try await call(echo, options: options, verbose: !compact)
                let attempts = sent.count - sentBefore
                var latency = Self.format(ContinuousClock.now - callStarted)
                if let rejection = fallbackUses.take() {
                    latency += attempts > 0 ? Self.rejectedAfter(attempts) : Self.attempts(attempts)
                    tally.fallbacks += 1
                    line = "OK from the fallback, because \(rejection.message) (\(latency))"
                    if !compact { say("fallback used: \(rejection.message)") }
                } else {
                    latency += Self.attempts(attempts)
                    tally.succeeded += 1
                    line = "OK (\(latency))"
                }
                if compact { line += ": " + received.joined(separator: " ") }
            } catch let error as RPCError {
                let attempts = sent.count - sentBefore
                var latency = Self.format(ContinuousClock.now - callStarted)
                if error.isCircuitBreakerRejection, attempts > 0 {
                    latency += Self.rejectedAfter(attempts)
                } else {
                    latency += Self.attempts(attempts)
                }
                tally.failed += 1
                if error.isCircuitBreakerRejection { tally.rejected += 1 }
                line = "\(error.code.name): \(error.message) (\(latency))"
            }
            // The state changes this call caused come before its line.
            await printer.flush()
            if compact {
                say("\(Self.stamp(since: started)) call \(index)/\(count) \(line)")
            } else {
                say("status: \(line)")
            }
        }
        if compact, target != nil {
            for snapshot in await transport.endpointSnapshots() { say("endpoint \(snapshot)") }
        }
        await client.close()
        await printer.flush()
        printing?.cancel()
        await connectivity?.value  // ends with SHUTDOWN, printed
        await endpointPrinting?.value  // ends when the transport closed

        if compact {
            var summary = "\(count) calls: \(tally.succeeded) OK, \(tally.failed) failed"
            if tally.rejected > 0 { summary += " (\(tally.rejected) rejected by a circuit breaker)" }
            if tally.fallbacks > 0 { summary += ", \(tally.fallbacks) answered by the fallback" }
            summary += "; \(sent.count) attempts sent over the network"
            say(summary)
        }
        if let resilience, compact {
            for snapshot in resilience.breakerSnapshots() { say("breaker \(snapshot)") }
        }
        if tally.failed > 0 { throw ExitCode(1) }
    }

    /// Makes one call; returns the texts received. With `verbose`, prints each message sent and received.
    private func call(_ echo: Echo_EchoClient, options: CallOptions, verbose: Bool) async throws -> [String] {
        try await Self.call(echo, mode: mode, text: text, options: options, verbose: verbose)
    }

    /// Makes one `mode` call with `text`; returns the texts received.
    private static func call(
        _ echo: Echo_EchoClient, mode: Mode, text: String, options: CallOptions, verbose: Bool
    ) async throws -> [String] {
        let words = text.split(separator: " ").map(String.init)
        var received: [String] = []
        func got(_ response: Echo_EchoResponse) {
            received.append(response.text)
            if verbose { say("received: \(response.text)") }
        }
        switch mode {
        case .get:
            if verbose { say("sent: \(text)") }
            got(try await echo.get(.with { $0.text = text }, options: options))
        case .expand:
            if verbose { say("sent: \(text)") }
            let responses = try await echo.expand(.with { $0.text = text }, options: options)
            for try await response in responses { got(response) }
        case .collect:
            let response = try await echo.collect(options: options) { writer in
                for word in words {
                    if verbose { say("sent: \(word)") }
                    try await writer.write(.with { $0.text = word })
                }
            }
            got(response)
        case .update:
            let responses = try await echo.update(options: options) { writer in
                for word in words {
                    if verbose { say("sent: \(word)") }
                    try await writer.write(.with { $0.text = word })
                }
            }
            for try await response in responses { got(response) }
        }
        return received
    }

    /// A latency: microseconds below 1 ms (`12 us`), else milliseconds (`3.4 ms`).
    static func format(_ duration: Duration) -> String {
        let (seconds, attos) = duration.components
        let micros = Double(seconds) * 1e6 + Double(attos) / 1e12
        return micros < 1000 ? String(format: "%.0f us", micros) : String(format: "%.1f ms", micros / 1000)
    }

    /// How many attempts of a call went to the network, when that is not simply one.
    static func attempts(_ n: Int) -> String {
        switch n {
        case 0: ", not sent"
        case 1: ""
        default: ", \(n) attempts"
        }
    }

    /// A retry after `n` failed attempts (a failed probe, say) found the breaker open.
    static func rejectedAfter(_ n: Int) -> String {
        ", rejected after \(n) failed attempt\(n == 1 ? "" : "s")"
    }

    /// The time since `start`, as `[  1.234 s]`.
    /// Prints each connectivity state change of `transport` until it shuts down.
    static func printConnectivity(of transport: HTTP2ClientTransport, since start: ContinuousClock.Instant) -> Task<Void, Never> {
        let changes = transport.connectivityStateChanges()
        return Task {
            for await change in changes { say("\(stamp(since: start)) connectivity \(change)") }
        }
    }

    /// Prints each endpoint event of `transport` until it closes.
    static func printEndpointEvents(of transport: HTTP2ClientTransport, since start: ContinuousClock.Instant) -> Task<Void, Never> {
        let events = transport.endpointEvents()
        return Task {
            for await event in events { say("\(stamp(since: start)) endpoint \(event)") }
        }
    }

    static func stamp(since start: ContinuousClock.Instant) -> String {
        let (seconds, attos) = (ContinuousClock.now - start).components
        return String(format: "[%7.3f s]", Double(seconds) + Double(attos) / 1e18)
    }
}
