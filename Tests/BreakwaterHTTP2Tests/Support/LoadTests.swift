import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterTestSupport
import Foundation
import Testing

/// h2load against our server; opt-in (`BW_H2LOAD=1`) because it is a load run, not a unit test.
@Suite(.timeLimit(.minutes(TestTime.minutes(2))), .enabled(if: ProcessInfo.processInfo.environment["BW_H2LOAD"] != nil))
struct LoadTests {
    @Test func h2loadUnary() async throws {
        let server = try await TestServer.start()
        let body = NSTemporaryDirectory() + "bw-h2load-body-\(getpid())"
        try Data([0, 0, 0, 0, 5] + Array("hello".utf8)).write(to: URL(fileURLWithPath: body))
        let pipe = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "h2load", "-n", "20000", "-c", "4", "-m", "50", "-d", body,
            "-H", "content-type: application/grpc", "-H", "te: trailers",
            "http://127.0.0.1:\(server.port)/test.Echo/Echo",
        ]
        process.standardOutput = pipe
        try process.run()
        let output = await Python.blocking {
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return text
        }
        print(output)
        #expect(output.contains("20000 succeeded"), "\(output)")
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }
}
