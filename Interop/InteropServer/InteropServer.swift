import ArgumentParser
import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterHealth
import BreakwaterReflection
import BreakwaterInterop
import Foundation

/// `interop-server`: serves `grpc.testing.TestService` for gRPC's interop test cases, with the flags of
/// gRPC's interop servers (`--port`, `--use_tls`), and gRPC's health and reflection services.
@main
struct InteropServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interop-server",
        abstract: "Serve grpc.testing.TestService (gRPC's interop test server) over HTTP/2."
    )

    @Option(name: .customLong("port"), help: "The port to listen on; 0 picks a free one.")
    var port = 10000

    @Option(name: .customLong("host"), help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(name: .customLong("use_tls"), help: "Serve TLS (true/false); needs --tls_cert_file and --tls_key_file.")
    var useTLS = false

    @Option(name: .customLong("tls_cert_file"), help: "The PEM certificate chain served with --use_tls.")
    var tlsCertFile: String?

    @Option(name: .customLong("tls_key_file"), help: "The PEM private key of --tls_cert_file.")
    var tlsKeyFile: String?

    @Flag(name: .customLong("announce_port"), help: "Print `PORT <n>` alone on the first line (for scripts).")
    var announcePort = false

    @Flag(name: .customLong("exit_on_stdin_eof"), help: "Also stop when standard input ends (for test harnesses).")
    var exitOnStdinEOF = false

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535, got \(port)") }
        if useTLS, tlsCertFile == nil || tlsKeyFile == nil {
            throw ValidationError("--use_tls=true needs --tls_cert_file and --tls_key_file")
        }
    }

    func run() async throws {
        var configuration = HTTP2ServerTransport.Configuration()
        if useTLS, let tlsCertFile, let tlsKeyFile {
            configuration.tls = TLSServerConfiguration(certificateChain: .file(tlsCertFile), privateKey: .file(tlsKeyFile))
        }
        let health = HealthService(statuses: ["": .serving, Grpc_Testing_TestService.serviceName: .serving])
        let reflection = try ReflectionService(
            describing: [Grpc_Testing_TestService.fileDescriptorProtos, Grpc_Health_V1_Health.fileDescriptorProtos])
        let server = GRPCServer(
            transport: HTTP2ServerTransport(host: host, port: port, configuration: configuration),
            services: [TestServiceProvider(), health, reflection]
        )
        let boundPort: Int
        do {
            boundPort = try await server.start()
        } catch {
            FileHandle.standardError.write(Data("interop-server: cannot start: \(error)\n".utf8))
            throw ExitCode(1)
        }
        if announcePort { say("PORT \(boundPort)") }
        say("interop-server listening on \(host):\(boundPort)\(useTLS ? " over TLS" : "")")
        await waitForTermination(watchingStandardInput: exitOnStdinEOF)
        health.enterShutdown()
        await server.shutdownGracefully(gracePeriod: .seconds(2))
    }
}

/// Writes a line to standard output at once (scripts wait for these lines).
private func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Suspends until SIGINT or SIGTERM arrives, or, when `watchingStandardInput`, standard input reaches its
/// end (so a test that starts the server stops it by closing its stdin).
private func waitForTermination(watchingStandardInput: Bool) async {
    let (stream, continuation) = AsyncStream<Void>.makeStream()
    var sources: [any DispatchSourceSignal] = []
    for sig in [SIGINT, SIGTERM] {
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler { continuation.yield() }
        source.resume()
        sources.append(source)
    }
    if watchingStandardInput {
        Thread.detachNewThread {
            _ = FileHandle.standardInput.readDataToEndOfFile()
            continuation.yield()
        }
    }
    for await _ in stream { break }
    sources.forEach { $0.cancel() }
}
