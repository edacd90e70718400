import ArgumentParser
import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterInterop
import Foundation

/// `interop-client`: runs gRPC's interop test cases against a `grpc.testing.TestService` server, with
/// the flags of gRPC's interop clients (`--server_host`, `--server_port`, `--test_case`, `--use_tls`,
/// `--use_test_ca`, `--server_host_override`).
@main
struct InteropClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interop-client",
        abstract: "Run gRPC's interop test cases against a grpc.testing.TestService server.",
        discussion: "Test cases: \(InteropTestCase.allCases.map(\.rawValue).joined(separator: ", ")), or all."
    )

    @Option(name: .customLong("server_host"), help: "The server's host.")
    var serverHost = "localhost"

    @Option(name: .customLong("server_port"), help: "The server's port.")
    var serverPort = 10000

    @Option(name: .customLong("test_case"), help: "A test case, several separated by commas, or all.")
    var testCase = "large_unary"

    @Option(name: .customLong("use_tls"), help: "Connect over TLS (true/false).")
    var useTLS = false

    @Option(name: .customLong("use_test_ca"), help: "Trust the CA of --ca_file instead of the system's (true/false).")
    var useTestCA = false

    @Option(name: .customLong("ca_file"), help: "The PEM CA bundle --use_test_ca trusts.")
    var caFile: String?

    @Option(name: .customLong("server_host_override"), help: "The name expected in the server's certificate (and sent as SNI).")
    var serverHostOverride: String?

    @Option(
        name: .customLong("skip_compression_probe"),
        help: "Leave out the INVALID_ARGUMENT probe of the client_compressed cases, for servers that cannot tell compressed requests (true/false).")
    var skipCompressionProbe = false

    func validate() throws {
        if useTestCA, caFile == nil { throw ValidationError("--use_test_ca=true needs --ca_file") }
        _ = try cases()
    }

    private func cases() throws -> [InteropTestCase] {
        if testCase == "all" { return InteropTestCase.allCases }
        return try testCase.split(separator: ",").map { name in
            guard let found = InteropTestCase(rawValue: String(name)) else {
                throw ValidationError("unknown test case '\(name)'")
            }
            return found
        }
    }

    func run() async throws {
        var configuration = HTTP2ClientTransport.Configuration()
        if useTLS {
            configuration.tls = TLSClientConfiguration(
                trustRoots: useTestCA ? .certificates(.file(caFile ?? "")) : .systemDefault,
                serverHostname: serverHostOverride)
        }
        let client = GRPCClient(transport: HTTP2ClientTransport(host: serverHost, port: serverPort, configuration: configuration))
        var passed = 0
        var failed = 0
        for testCase in try cases() {
            let start = ContinuousClock.now
            do {
                try await testCase.run(client, skipCompressionProbe: skipCompressionProbe)
                passed += 1
                say("PASS \(testCase.rawValue) (\(start.duration(to: .now).formatted(.units(allowed: [.milliseconds]))))")
            } catch {
                failed += 1
                say("FAIL \(testCase.rawValue): \(error)")
            }
        }
        await client.close()
        say("\(passed) passed, \(failed) failed")
        if failed > 0 { throw ExitCode(1) }
    }
}

/// Writes a line to standard output at once.
private func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
