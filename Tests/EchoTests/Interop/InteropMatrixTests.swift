import BreakwaterInterop
import BreakwaterTestSupport
import Foundation
import Testing

/// gRPC's interop test cases (Interop/, grpc.testing) in both directions against grpcio, plaintext and
/// TLS: grpcio's client (Tests/Interop/grpcio_interop_client.py) against `interop-server`, and
/// `interop-client` against grpcio's server (Tests/Interop/grpcio_interop_server.py); and, for good
/// measure, `interop-client` against `interop-server`. The executables run as built by `swift build`.
///
/// grpcio's Python server cannot see whether a request was compressed, so against it the client leaves
/// out the INVALID_ARGUMENT probe of the client_compressed cases (`--skip_compression_probe=true`).
@Suite("gRPC interop test cases against grpcio", .serialized, .timeLimit(.minutes(2)))
struct InteropMatrixTests {
    static let cases = InteropTestCase.allCases.map(\.rawValue)

    @Test("grpcio's client against interop-server", arguments: [false, true])
    func grpcioClientAgainstOurServer(tls: Bool) async throws {
        let pki = try await TestPKI.get()
        let server = try await InteropPeer.start(
            [InteropPeer.binary("interop-server"), "--port", "0", "--announce_port", "--exit_on_stdin_eof"] + Self.serverTLS(tls, pki))
        let (status, output) = try await PythonPeer.run(
            "grpcio_interop_client.py", Self.clientArguments(port: server.port, tls: tls, pki: pki))
        await server.stop()
        Self.check(status, output, direction: "grpcio client -> interop-server", tls: tls)
    }

    @Test("interop-client against grpcio's server", arguments: [false, true])
    func ourClientAgainstGrpcioServer(tls: Bool) async throws {
        let pki = try await TestPKI.get()
        let server = try await InteropPeer.start(
            ["python3", PythonPeer.interopDirectory.appendingPathComponent("grpcio_interop_server.py").path, "--port", "0"]
                + Self.serverTLS(tls, pki))
        let (status, output) = try await PythonPeer.runCommand(
            [InteropPeer.binary("interop-client")] + Self.clientArguments(port: server.port, tls: tls, pki: pki)
                + ["--skip_compression_probe=true"])
        await server.stop()
        Self.check(status, output, direction: "interop-client -> grpcio server", tls: tls)
    }

    @Test("interop-client against interop-server", arguments: [false, true])
    func ourClientAgainstOurServer(tls: Bool) async throws {
        let pki = try await TestPKI.get()
        let server = try await InteropPeer.start(
            [InteropPeer.binary("interop-server"), "--port", "0", "--announce_port", "--exit_on_stdin_eof"] + Self.serverTLS(tls, pki))
        let (status, output) = try await PythonPeer.runCommand(
            [InteropPeer.binary("interop-client")] + Self.clientArguments(port: server.port, tls: tls, pki: pki))
        await server.stop()
        Self.check(status, output, direction: "interop-client -> interop-server", tls: tls)
    }

    private static func serverTLS(_ tls: Bool, _ pki: TestPKI) -> [String] {
        tls ? ["--use_tls=true", "--tls_cert_file", pki.pem("server"), "--tls_key_file", pki.key("server")] : []
    }

    private static func clientArguments(port: Int, tls: Bool, pki: TestPKI) -> [String] {
        var arguments = ["--server_host", "127.0.0.1", "--server_port", String(port), "--test_case", "all"]
        if tls {
            arguments += ["--use_tls=true", "--use_test_ca=true", "--ca_file", pki.pem("ca"), "--server_host_override", "localhost"]
        }
        return arguments
    }

    /// Every case passed, by the client's own `PASS <case>` lines and exit status.
    private static func check(_ status: Int32, _ output: String, direction: String, tls: Bool) {
        let label = "\(direction) (\(tls ? "TLS" : "plaintext"))"
        #expect(status == 0, "\(label):\n\(output)")
        let passed = Set(output.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("PASS ") else { return nil }
            return String(line.dropFirst(5).prefix { $0 != " " })
        })
        for name in cases {
            #expect(passed.contains(name), "\(label): \(name) did not pass:\n\(output)")
        }
    }
}

/// A server process for the interop tests: started with piped stdin, it announces `PORT <n>` on its first
/// line and stops when its stdin closes (killed with SIGKILL should it not).
final class InteropPeer: Sendable {
    let process: Process
    let stdin: Pipe
    let port: Int

    private init(process: Process, stdin: Pipe, port: Int) {
        self.process = process
        self.stdin = stdin
        self.port = port
    }

    static func start(_ command: [String]) async throws -> InteropPeer {
        let (process, stdin, stdout) = try PythonPeer.launch(command)
        let line = await PythonPeer.readLine(stdout)
        guard let port = PythonPeer.announcedPort(line) else {
            ChildProcess.kill(process)
            throw PythonPeer.Failure(description: "\(command.joined(separator: " ")) did not start: \(line)")
        }
        return InteropPeer(process: process, stdin: stdin, port: port)
    }

    func stop() async {
        try? stdin.fileHandleForWriting.close()
        let process = self.process
        await PythonPeer.blocking {
            for _ in 0..<150 where process.isRunning { usleep(20_000) }
            ChildProcess.kill(process)
        }
    }

    /// Ends the process at once (SIGKILL), for servers that stop only on a signal.
    func kill() async {
        try? stdin.fileHandleForWriting.close()
        let process = self.process
        await PythonPeer.blocking { ChildProcess.kill(process) }
    }

    /// The path of an executable of this package, next to the test bundle in the build folder.
    static func binary(_ name: String) -> String {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            url = URL(fileURLWithPath: exe)
        }
        while url.path != "/" {
            let candidate = url.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate.path }
            url.deleteLastPathComponent()
        }
        return name
    }
}
