import EchoService
import BenchSupport
import BreakwaterCore
import BreakwaterHTTP2

#if canImport(Glibc)
import Glibc
#endif

/// An echo server in a child process (this executable's `serve` subcommand), so that its memory can be
/// read apart from the client's, in /proc/PID/status.
final class ServerProcess {
    let pid: pid_t
    let port: Int

    /// Starts `/proc/self/exe serve` and reads the port from its first line (`PORT n`). With
    /// `anyAddress`, it listens on 0.0.0.0: every 127.0.0.x reaches it, one endpoint per address.
    init(anyAddress: Bool = false) throws {
        let exe = try Self.ownExecutable()
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else { throw Failure("pipe: errno \(errno)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
        posix_spawn_file_actions_addclose(&actions, pipeFDs[1])
        let arguments: [UnsafeMutablePointer<CChar>?] =
            [strdup(exe), strdup("serve")] + (anyAddress ? [strdup("--host"), strdup("0.0.0.0")] : [])
        defer { arguments.forEach { free($0) } }
        var argv = arguments + [nil]
        var environment: [UnsafeMutablePointer<CChar>?] = [nil]
        var child = pid_t()
        let rc = posix_spawn(&child, exe, &actions, nil, &argv, &environment)
        close(pipeFDs[1])
        guard rc == 0 else {
            close(pipeFDs[0])
            throw Failure("posix_spawn \(exe): error \(rc)")
        }
        pid = child
        // The first line, byte by byte (the server writes it with one write(2)).
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while read(pipeFDs[0], &byte, 1) == 1, byte != UInt8(ascii: "\n") { line.append(byte) }
        close(pipeFDs[0])
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("PORT "), let port = Int(text.dropFirst(5)) else {
            kill(child, SIGKILL)
            throw Failure("the server process printed '\(text)' instead of 'PORT n'")
        }
        self.port = port
    }

    /// Resident and peak resident memory of the server process, KiB.
    var memory: (rss: Int, hwm: Int) {
        let status = ProcessStats.memoryStatus(pid: pid)
        return (status["VmRSS"] ?? 0, status["VmHWM"] ?? 0)
    }

    /// Ends the server process and waits for it.
    func stop() {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }

    private static func ownExecutable() throws -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { throw Failure("readlink /proc/self/exe: errno \(errno)") }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// The child's side: serves `echo.Echo` over HTTP/2 on 127.0.0.1 (a free port), announces the port,
    /// and runs until SIGTERM or until its parent is gone.
    static func serve(host: String = "127.0.0.1") async throws -> Never {
        ProcessStats.raiseOpenFileLimit(to: 1 << 20)
        let parent = getppid()
        let server = GRPCServer(
            transport: HTTP2ServerTransport(host: host, port: 0), services: [EchoProvider()])
        let port = try await server.start()
        let line = Array("PORT \(port)\n".utf8)
        _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        while getppid() == parent {
            try? await Task.sleep(for: .milliseconds(250))
        }
        exit(0)
    }
}
