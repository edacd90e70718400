import ArgumentParser
import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterHealth
import BreakwaterObservability
import BreakwaterReflection
import EchoService
import Foundation

/// `echo-server`: serves `echo.Echo` over HTTP/2 (plaintext, or TLS with `--tls-cert` and `--tls-key`),
/// with optional fault injection.
@main
struct EchoServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-server",
        abstract: "Serve echo.Echo (Protos/echo.proto) over gRPC, optionally failing on purpose."
    )

    @Option(help: "The address to listen on (IPv4, IPv6 or a host name).")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on; 0 picks a free one.")
    var port = 50051

    @Option(
        help: ArgumentHelp(
            "Listen on this Unix domain socket path instead of TCP (unix-abstract:NAME for Linux's abstract namespace).",
            valueName: "path"))
    var unix: String?

    @Option(name: .customLong("fail-first"), help: "End the first N calls of each method with UNAVAILABLE.")
    var failFirst = 0

    @Option(name: .customLong("fail-rate"), help: "End this fraction (0 to 1) of calls with UNAVAILABLE.")
    var failRate = 0.0

    @Option(name: .customLong("delay-ms"), help: "Wait this many milliseconds before answering each call.")
    var delayMs = 0

    @Flag(help: "Never answer (calls end only by their deadline or cancellation).")
    var hang = false

    @Flag(name: .customLong("print-spans"), help: "Trace every call and print its span on standard error (W3C trace context from the client).")
    var printSpans = false

    @Flag(name: .customLong("announce-port"), help: "Print `PORT <n>` alone on the first line (for scripts).")
    var announcePort = false

    @Option(name: .customLong("tls-cert"), help: "Serve TLS with this PEM certificate chain (needs --tls-key).")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "The PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(
        name: .customLong("tls-client-ca"),
        help: "Require client certificates signed by this PEM CA bundle (mutual TLS; needs --tls-cert).")
    var tlsClientCA: String?

    @Option(name: .customLong("max-connections"), help: "Serve at most N connections at once (default 10000).")
    var maxConnections: Int?

    @Option(name: .customLong("max-concurrent-streams"), help: "Streams per connection (default 100); more are refused.")
    var maxConcurrentStreams: Int?

    @Option(
        name: .customLong("preface-timeout-ms"),
        help: "Close connections that send no HTTP/2 preface and SETTINGS within this time (default 10000).")
    var prefaceTimeoutMs: Int?

    @Option(name: .customLong("tls-handshake-timeout-ms"), help: "TLS handshake timeout (default 10000).")
    var handshakeTimeoutMs: Int?

    @Option(name: .customLong("max-connection-idle-ms"), help: "Send GOAWAY to connections without streams for this long.")
    var maxConnectionIdleMs: Int?

    @Option(
        name: .customLong("idle-poll-us"),
        help: "Let each event loop poll its sockets up to this many microseconds (at most 1000; adaptive) before it sleeps: CPU for latency where waking a thread is slow (default 0: never).")
    var idlePollUs: Int?

    func validate() throws {
        for (name, value) in [
            ("--max-connections", maxConnections), ("--max-concurrent-streams", maxConcurrentStreams),
            ("--preface-timeout-ms", prefaceTimeoutMs), ("--tls-handshake-timeout-ms", handshakeTimeoutMs),
            ("--max-connection-idle-ms", maxConnectionIdleMs),
        ] {
            if let value, value <= 0 { throw ValidationError("\(name) must be > 0, got \(value)") }
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535, got \(port)") }
        guard failFirst >= 0 else { throw ValidationError("--fail-first must be >= 0, got \(failFirst)") }
        guard (0...1).contains(failRate) else { throw ValidationError("--fail-rate must be in 0...1, got \(failRate)") }
        if let idlePollUs, !(0...1000).contains(idlePollUs) {
            throw ValidationError("--idle-poll-us must be in 0...1000, got \(idlePollUs)")
        }
        guard delayMs >= 0 else { throw ValidationError("--delay-ms must be >= 0, got \(delayMs)") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        guard tlsClientCA == nil || tlsCert != nil else { throw ValidationError("--tls-client-ca needs --tls-cert and --tls-key") }
    }

    func run() async throws {
        let faults = EchoProvider.Faults(
            failFirst: failFirst,
            failRate: failRate,
            delay: delayMs > 0 ? .milliseconds(delayMs) : nil,
            hang: hang
        )
        let provider = EchoProvider(faults: faults)
        // gRPC's health service: the server and echo.Echo are SERVING until shutdown starts.
        let health = HealthService(statuses: ["": .serving, Echo_Echo.serviceName: .serving])
        // Server reflection (grpcurl, grpcio-reflection): describes echo.Echo and the health service.
        let reflection = try ReflectionService(
            describing: [Echo_Echo.fileDescriptorProtos, Grpc_Health_V1_Health.fileDescriptorProtos])
        var transportConfiguration = HTTP2ServerTransport.Configuration()
        if let maxConnections { transportConfiguration.maxConnections = maxConnections }
        if let maxConcurrentStreams { transportConfiguration.maxConcurrentStreams = maxConcurrentStreams }
        if let prefaceTimeoutMs { transportConfiguration.prefaceTimeout = .milliseconds(prefaceTimeoutMs) }
        if let maxConnectionIdleMs { transportConfiguration.maxConnectionIdle = .milliseconds(maxConnectionIdleMs) }
        if let tlsCert, let tlsKey {
            var tls = TLSServerConfiguration(
                certificateChain: .file(tlsCert), privateKey: .file(tlsKey),
                clientCertificateVerification: tlsClientCA == nil ? .none : .require,
                clientCertificateTrustRoots: tlsClientCA.map { .file($0) })
            if let handshakeTimeoutMs { tls.handshakeTimeout = .milliseconds(handshakeTimeoutMs) }
            transportConfiguration.tls = tls
        }
        // The shared group unless the loops are to poll before sleeping (a group is set up with its loops).
        let group = idlePollUs.flatMap { $0 > 0 ? EventLoopGroup(idlePoll: .microseconds($0)) : nil } ?? .shared
        let transport: HTTP2ServerTransport
        if let unix {
            let abstract = unix.hasPrefix("unix-abstract:")
            let path = abstract ? String(unix.dropFirst("unix-abstract:".count)) : unix
            transport = HTTP2ServerTransport(unixPath: path, abstract: abstract, configuration: transportConfiguration, group: group)
        } else {
            transport = HTTP2ServerTransport(host: host, port: port, configuration: transportConfiguration, group: group)
        }
        let server = GRPCServer(
            transport: transport, services: [provider, health, reflection],
            interceptors: printSpans ? [ServerTracingInterceptor(tracer: PrintingTracer())] : [])
        let boundPort: Int
        do {
            boundPort = try await server.start()
        } catch let error as RPCError {
            FileHandle.standardError.write(Data("echo-server: cannot \(tlsCert == nil ? "listen" : "start"): \(error)\n".utf8))
            throw ExitCode(1)
        }
        if announcePort { say("PORT \(boundPort)") }
        var mode: [String] = []
        if failFirst > 0 { mode.append("fail-first \(failFirst)") }
        if failRate > 0 { mode.append("fail-rate \(failRate)") }
        if delayMs > 0 { mode.append("delay \(delayMs) ms") }
        if hang { mode.append("hang") }
        let security = tlsCert == nil ? "" : (tlsClientCA == nil ? " over TLS" : " over mutual TLS")
        let address = unix.map { $0.hasPrefix("unix-abstract:") ? $0 : "unix:\($0)" } ?? "\(host):\(boundPort)"
        say("echo-server listening on \(address)\(security)" + (mode.isEmpty ? "" : " (faults: \(mode.joined(separator: ", ")))"))

        let support = HTTP2Protections.librarySupport
        if !support.streamResetRateLimit || !support.maxContinuations {
            // An unpatched libnghttp2: say so once; the transport enforces what it lacks.
            say("echo-server: the linked libnghttp2 lacks some flood limits; enforced by Breakwater instead (\(support))")
        }

        await waitForTerminationSignal()
        say("echo-server: shutting down gracefully (\(server.activeCalls) calls in flight)")
        health.enterShutdown()
        await server.shutdownGracefully(gracePeriod: .seconds(5))
        say("echo-server: stopped after \(provider.totalCallCount) calls")
    }
}

/// Writes a line to standard output at once (no buffering: scripts wait for these lines).
private func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Suspends until SIGINT or SIGTERM arrives.
private func waitForTerminationSignal() async {
    let (stream, continuation) = AsyncStream<Int32>.makeStream()
    var sources: [any DispatchSourceSignal] = []
    for sig in [SIGINT, SIGTERM] {
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler { continuation.yield(sig) }
        source.resume()
        sources.append(source)
    }
    for await _ in stream { break }
    sources.forEach { $0.cancel() }
}
