import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterTestSupport
import Foundation
import Testing

/// Interop with grpcio (PyPI) in both directions at the transport level (raw bytes); grpcio is installed
/// by scripts/bootstrap.sh, so these run everywhere the tests run.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct GRPCIOInteropTests {

    static func run(_ arguments: [String], stdout: Pipe? = nil) throws -> Process {
        try Python.run(arguments, stdout: stdout)
    }

    static func script(_ name: String, _ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "bw-interop-\(getpid())-\(name)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func grpcioClientAgainstOurServer() async throws {
        let server = try await TestServer.start()
        let pipe = Pipe()
        let process = try Self.run([try Self.script("client.py", Self.clientScript), String(server.port)], stdout: pipe)
        let output = await Python.blocking {
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return text
        }
        #expect(process.terminationStatus == 0)
        #expect(output.contains("OK"), "\(output)")
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func ourClientAgainstGrpcioServer() async throws {
        let pipe = Pipe()
        let process = try Self.run([try Self.script("server.py", Self.serverScript)], stdout: pipe)
        defer { ChildProcess.kill(process) }
        let line = await Python.blocking { () -> String in
            var bytes: [UInt8] = []
            while true {
                let d = pipe.fileHandleForReading.readData(ofLength: 1)
                guard let b = d.first, b != 10 else { break }
                bytes.append(b)
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        let port = try #require(Int(line.trimmingCharacters(in: .whitespaces)))
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: port)
        let unary = await TestCalls.call(client, "Echo", [Array("hi".utf8)])
        #expect(unary.status.code == .ok, "\(unary.status)")
        #expect(unary.messages == [Array("hi".utf8)])
        let big = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let large = await TestCalls.call(client, "Echo", [big])
        #expect(large.messages == [big])
        let gz = await TestCalls.call(client, "Echo", [[UInt8](repeating: 3, count: 10_000)], compression: .gzip)
        #expect(gz.status.code == .ok, "\(gz.status)")
        #expect(gz.messages == [[UInt8](repeating: 3, count: 10_000)])
        let collected = await TestCalls.call(client, "Collect", [[1], [2], [3]])
        #expect(collected.messages == [[1, 2, 3]])
        let missing = await TestCalls.call(client, "Nope", [[1]])
        #expect(missing.status.code == .unimplemented)
        await client.close()
    }

    static let serverScript = """
import grpc, sys
from concurrent import futures
def echo(req, ctx):
    return req
def collect(it, ctx):
    return b"".join(it)
class H(grpc.GenericRpcHandler):
    def service(self, d):
        if d.method == "/test.Echo/Echo":
            return grpc.unary_unary_rpc_method_handler(echo)
        if d.method == "/test.Echo/Collect":
            return grpc.stream_unary_rpc_method_handler(collect)
        return None
s = grpc.server(futures.ThreadPoolExecutor(4), handlers=[H()])
port = s.add_insecure_port("127.0.0.1:0")
s.start()
print(port, flush=True)
s.wait_for_termination()
"""

    static let clientScript = """
import grpc, sys
port = sys.argv[1]
ch = grpc.insecure_channel(f"127.0.0.1:{port}")
echo = ch.unary_unary("/test.Echo/Echo")
assert echo(b"hello", timeout=5) == b"hello"
big = bytes(range(256)) * 8000
assert echo(big, timeout=10) == big
assert echo(b"zip" * 1000, timeout=5, compression=grpc.Compression.Gzip) == b"zip" * 1000
collect = ch.stream_unary("/test.Echo/Collect")
assert collect(iter([b"a", b"b", b"c"]), timeout=5) == b"abc"
try:
    ch.unary_unary("/test.Echo/Hang")(b"x", timeout=0.2)
    raise SystemExit("hang returned")
except grpc.RpcError as e:
    assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.code()
try:
    ch.unary_unary("/test.Echo/Nope")(b"x", timeout=5)
except grpc.RpcError as e:
    assert e.code() == grpc.StatusCode.UNIMPLEMENTED, e.code()
print("OK", flush=True)
"""
}

enum Python {
    /// Runs blocking work (pipes, waiting for a process) on its own thread, never on the cooperative
    /// pool: a blocked pool thread would delay every other test's continuations on this 2-core machine.
    static func blocking<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: work()) }
        }
    }

    static func run(_ arguments: [String], stdout: Pipe? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        process.standardOutput = stdout ?? FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }
}
