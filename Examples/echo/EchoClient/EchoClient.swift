import ArgumentParser
import BreakwaterCore
import BreakwaterHTTP2
import EchoService
import Foundation

/// `echo-client`: calls `echo.Echo` and prints what it sent, what it received and the final status.
@main
struct EchoClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-client",
        abstract: "Call echo.Echo (Protos/echo.proto) over gRPC and print each message and the status."
    )

    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case get, expand, collect, update
    }

    @Option(help: "The server's host.")
    var host = "127.0.0.1"

    @Option(help: "The server's port.")
    var port = 50051

    @Option(help: "get (unary), expand (server streaming), collect (client streaming), update (bidi).")
    var mode: Mode = .get

    @Option(help: "The text to send. collect and update send one message per word.")
    var text = "hello breakwater"

    @Option(name: .customLong("timeout-ms"), help: "The deadline of each call, in milliseconds.")
    var timeoutMs: Int?

    @Option(help: "How many calls to make, one after the other.")
    var count = 1

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be in 1...65535, got \(port)") }
        guard count >= 1 else { throw ValidationError("--count must be >= 1, got \(count)") }
        if let timeoutMs, timeoutMs <= 0 { throw ValidationError("--timeout-ms must be > 0, got \(timeoutMs)") }
    }

    func run() async throws {
        let transport = HTTP2ClientTransport(host: host, port: port)
        let client = GRPCClient(transport: transport)
        let echo = Echo_EchoClient(wrapping: client)
        var options = CallOptions()
        if let timeoutMs { options.timeout = .milliseconds(timeoutMs) }

        var failures = 0
        for index in 1...count {
            if count > 1 { print("call \(index)/\(count)") }
            let started = ContinuousClock.now
            do {
                try await call(echo, options: options)
                print("status: OK (\(Self.format(ContinuousClock.now - started)))")
            } catch let error as RPCError {
                failures += 1
                print("status: \(error.code.name): \(error.message) (\(Self.format(ContinuousClock.now - started)))")
            }
        }
        await client.close()
        if failures > 0 { throw ExitCode(1) }
    }

    private func call(_ echo: Echo_EchoClient, options: CallOptions) async throws {
        let words = text.split(separator: " ").map(String.init)
        switch mode {
        case .get:
            print("sent: \(text)")
            let response = try await echo.get(.with { $0.text = text }, options: options)
            print("received: \(response.text)")
        case .expand:
            print("sent: \(text)")
            let responses = try await echo.expand(.with { $0.text = text }, options: options)
            for try await response in responses { print("received: \(response.text)") }
        case .collect:
            let response = try await echo.collect(options: options) { writer in
                for word in words {
                    print("sent: \(word)")
                    try await writer.write(.with { $0.text = word })
                }
            }
            print("received: \(response.text)")
        case .update:
            let responses = try await echo.update(options: options) { writer in
                for word in words {
                    print("sent: \(word)")
                    try await writer.write(.with { $0.text = word })
                }
            }
            for try await response in responses { print("received: \(response.text)") }
        }
    }

    static func format(_ duration: Duration) -> String {
        let (seconds, attos) = duration.components
        let micros = Double(seconds) * 1e6 + Double(attos) / 1e12
        return micros < 1000 ? String(format: "%.0f us", micros) : String(format: "%.1f ms", micros / 1000)
    }
}
