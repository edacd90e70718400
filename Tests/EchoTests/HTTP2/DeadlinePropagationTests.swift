@_spi(Locking) import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterTestSupport
import EchoService
import Testing

/// A call made inside a handler takes over the handler's deadline, and ends when the handler is
/// cancelled: a front server relays `Get` to a back server, both real, over HTTP/2 on loopback.
@Suite("Deadline propagation through a relaying server", .timeLimit(.minutes(TestTime.minutes(1))))
struct DeadlinePropagationTests {
    /// The back service: reports the deadline each `Get` arrived with (as time left), and for the text
    /// "hang" waits until its call is cancelled.
    final class Back: Echo_Echo.SimpleServiceProtocol, Sendable {
        let seen: AsyncStream<String>
        private let report: AsyncStream<String>.Continuation

        init() {
            (seen, report) = AsyncStream.makeStream(of: String.self)
        }

        func get(request: Echo_EchoRequest, context: ServerContext) async throws -> Echo_EchoResponse {
            let left = context.deadline.map { ContinuousClock.now.duration(to: $0) }
            report.yield(left.map { "deadline in \(Int(($0 / .milliseconds(1)).rounded())) ms" } ?? "no deadline")
            if request.text == "hang" {
                do {
                    // Longer than the suite's time limit: only a cancellation ends it in time.
                    try await Task.sleep(for: .seconds(600))
                } catch {
                    report.yield("cancelled")
                    throw error
                }
            }
            return .with { $0.text = request.text }
        }

        func expand(request: Echo_EchoRequest, response: ResponseWriter<Echo_EchoResponse>, context: ServerContext) async throws {
            throw RPCError(code: .unimplemented, message: "not in this test")
        }

        func collect(requests: RequestStream<Echo_EchoRequest>, context: ServerContext) async throws -> Echo_EchoResponse {
            throw RPCError(code: .unimplemented, message: "not in this test")
        }

        func update(
            requests: RequestStream<Echo_EchoRequest>, response: ResponseWriter<Echo_EchoResponse>, context: ServerContext
        ) async throws {
            throw RPCError(code: .unimplemented, message: "not in this test")
        }
    }

    /// The front service: relays `Get` to the back with `options`.
    struct Front: Echo_Echo.SimpleServiceProtocol {
        let back: Echo_Echo.Client
        let options: CallOptions

        func get(request: Echo_EchoRequest, context: ServerContext) async throws -> Echo_EchoResponse {
            try await back.get(request, options: options)
        }

        func expand(request: Echo_EchoRequest, response: ResponseWriter<Echo_EchoResponse>, context: ServerContext) async throws {
            throw RPCError(code: .unimplemented, message: "not in this test")
        }

        func collect(requests: RequestStream<Echo_EchoRequest>, context: ServerContext) async throws -> Echo_EchoResponse {
            throw RPCError(code: .unimplemented, message: "not in this test")
        }

        func update(
            requests: RequestStream<Echo_EchoRequest>, response: ResponseWriter<Echo_EchoResponse>, context: ServerContext
        ) async throws {
            throw RPCError(code: .unimplemented, message: "not in this test")
        }
    }

    /// Runs `body` with a client of a front server that relays to a back server with `relayOptions`.
    func withRelay(
        relayOptions: CallOptions,
        _ body: (Echo_Echo.Client, AsyncStream<String>.Iterator) async throws -> Void
    ) async throws {
        let back = Back()
        let backServer = GRPCServer(transport: HTTP2ServerTransport(host: "127.0.0.1", port: 0), services: [back])
        let backPort = try await backServer.start()
        let relayClient = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: backPort))
        let front = Front(back: Echo_Echo.Client(wrapping: relayClient), options: relayOptions)
        let frontServer = GRPCServer(transport: HTTP2ServerTransport(host: "127.0.0.1", port: 0), services: [front])
        let frontPort = try await frontServer.start()
        let client = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: frontPort))
        defer { back.finish() }
        do {
            try await body(Echo_Echo.Client(wrapping: client), back.seen.makeAsyncIterator())
        } catch {
            await stop(client, relayClient, frontServer, backServer)
            throw error
        }
        await stop(client, relayClient, frontServer, backServer)
    }

    func stop(_ client: GRPCClient, _ relay: GRPCClient, _ front: GRPCServer, _ back: GRPCServer) async {
        await client.close()
        await front.shutdownGracefully(gracePeriod: .seconds(1))
        await relay.close()
        await back.shutdownGracefully(gracePeriod: .seconds(1))
    }

    /// "deadline in N ms" as N.
    func millisecondsLeft(_ line: String?) -> Int? {
        guard let line, line.hasPrefix("deadline in ") else { return nil }
        return Int(line.dropFirst("deadline in ".count).dropLast(" ms".count))
    }

    @Test("by default the relayed call gets the caller's remaining time")
    func inherited() async throws {
        try await withRelay(relayOptions: .defaults) { echo, seen in
            var seen = seen
            _ = try await echo.get(.with { $0.text = "a" }, options: CallOptions(timeout: .seconds(5)))
            let left = try #require(millisecondsLeft(await seen.next()))
            #expect(left > 3_000 && left <= 5_000, "\(left) ms")
        }
    }

    @Test("a margin shortens it; the relayed call's own shorter timeout still wins")
    func marginAndOwnTimeout() async throws {
        try await withRelay(relayOptions: CallOptions(deadlinePropagation: .inherit(margin: .seconds(2)))) { echo, seen in
            var seen = seen
            _ = try await echo.get(.with { $0.text = "a" }, options: CallOptions(timeout: .seconds(5)))
            let left = try #require(millisecondsLeft(await seen.next()))
            #expect(left > 1_000 && left <= 3_000, "\(left) ms")
        }
        try await withRelay(relayOptions: CallOptions(timeout: .seconds(1))) { echo, seen in
            var seen = seen
            _ = try await echo.get(.with { $0.text = "a" }, options: CallOptions(timeout: .seconds(30)))
            let left = try #require(millisecondsLeft(await seen.next()))
            #expect(left > 0 && left <= 1_000, "\(left) ms")
        }
    }

    @Test("off: the relayed call has only its own deadline")
    func off() async throws {
        try await withRelay(relayOptions: CallOptions(deadlinePropagation: .off)) { echo, seen in
            var seen = seen
            _ = try await echo.get(.with { $0.text = "a" }, options: CallOptions(timeout: .seconds(5)))
            #expect(await seen.next() == "no deadline")
        }
    }

    @Test("when the caller's deadline passes, the relayed call is cancelled on the back server")
    func cancelledWithTheHandler() async throws {
        try await withRelay(relayOptions: CallOptions(deadlinePropagation: .off)) { echo, seen in
            var seen = seen
            do {
                _ = try await echo.get(.with { $0.text = "hang" }, options: CallOptions(timeout: .milliseconds(300)))
                Issue.record("the call returned")
            } catch let error as RPCError {
                #expect(error.code == .deadlineExceeded)
            }
            #expect(await seen.next() == "no deadline")
            // Propagation is off, so only the front handler's cancellation can end the back call.
            #expect(await seen.next() == "cancelled")
        }
    }
}

extension DeadlinePropagationTests.Back {
    func finish() { report.finish() }
}
