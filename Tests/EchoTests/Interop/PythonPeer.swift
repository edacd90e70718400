import BreakwaterTestSupport
import Foundation

/// Runs the grpcio interop peers in `Tests/Interop` (Python, grpcio from PyPI; `scripts/bootstrap.sh`
/// installs it). Blocking pipe reads run on their own threads, never on the cooperative pool.
enum PythonPeer {
    /// `Tests/Interop`, found from this file's path.
    static let interopDirectory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Interop
        .deletingLastPathComponent()  // EchoTests
        .deletingLastPathComponent()  // Tests
        .appendingPathComponent("Interop")

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs blocking work on a new thread and resumes with its result.
    static func blocking<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: work()) }
        }
    }

    /// Starts `python3 Tests/Interop/<script> <arguments>` with piped stdin and stdout.
    static func start(_ script: String, _ arguments: [String]) throws -> (Process, stdin: Pipe, stdout: Pipe) {
        try launch(["python3", interopDirectory.appendingPathComponent(script).path] + arguments)
    }

    /// Starts `command` (looked up on PATH) with piped stdin, and stdout and stderr on one pipe.
    static func launch(_ command: [String]) throws -> (Process, stdin: Pipe, stdout: Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        process.environment = environment
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stdout
        try process.run()
        return (process, stdin, stdout)
    }

    /// Reads one line (without its newline) from `pipe`, on its own thread.
    static func readLine(_ pipe: Pipe) async -> String {
        await blocking {
            var bytes: [UInt8] = []
            while let b = pipe.fileHandleForReading.readData(ofLength: 1).first, b != UInt8(ascii: "\n") {
                bytes.append(b)
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// The port from a peer's first line, `PORT <n>`; nil when the line is anything else.
    static func announcedPort(_ line: String) -> Int? {
        line.hasPrefix("PORT ") ? Int(line.dropFirst(5)) : nil
    }

    /// Runs a script to completion and returns its exit status and combined output.
    static func run(_ script: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await runCommand(["python3", interopDirectory.appendingPathComponent(script).path] + arguments)
    }

    /// Runs `command` to completion with stdin closed and returns its exit status and combined output.
    static func runCommand(_ command: [String]) async throws -> (status: Int32, output: String) {
        let (process, stdin, stdout) = try launch(command)
        try? stdin.fileHandleForWriting.close()
        return await blocking {
            let data = stdout.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
    }

    /// A running grpcio echo server; it stops when its stdin closes.
    final class Server: Sendable {
        let process: Process
        let stdin: Pipe
        let port: Int

        /// Starts `grpcio_echo_server.py --port 0` with `arguments` (e.g. its TLS flags).
        init(arguments: [String] = []) async throws {
            let (process, stdin, stdout) = try PythonPeer.start("grpcio_echo_server.py", ["--port", "0"] + arguments)
            let line = await PythonPeer.readLine(stdout)
            guard let port = PythonPeer.announcedPort(line) else {
                ChildProcess.kill(process)
                throw Failure(description: "grpcio_echo_server.py \(arguments.joined(separator: " ")) did not start (is grpcio installed? run scripts/bootstrap.sh): \(line)")
            }
            self.process = process
            self.stdin = stdin
            self.port = port
        }

        /// Closes its stdin (it then exits on its own) and, should it still run, kills it.
        func stop() async {
            try? stdin.fileHandleForWriting.close()
            let process = self.process
            await PythonPeer.blocking {
                for _ in 0..<100 where process.isRunning { usleep(20_000) }
                ChildProcess.kill(process)
            }
        }
    }
}
