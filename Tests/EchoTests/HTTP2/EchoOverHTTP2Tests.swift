import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterProtobuf
import BreakwaterTestSupport
import EchoService
import Synchronization
import Testing

/// Our client against our server, over HTTP/2 on loopback sockets: the typed API end to end.
@Suite("Echo over HTTP/2 on loopback", .timeLimit(.minutes(TestTime.minutes(1))))
struct EchoOverHTTP2Tests {
    @Test func allFourCallKinds() async throws {
        try await withLiveEcho { echo, live in
            #expect(try await echo.get(request("hello world")).text == "hello world")

            var words: [String] = []
            for try await r in try await echo.expand(request("one two three")) { words.append(r.text) }
            #expect(words == ["one", "two", "three"])

            let joined = try await echo.collect { writer in
                for w in ["alpha", "beta", "gamma"] { try await writer.write(request(w)) }
            }
            #expect(joined.text == "alpha beta gamma")

            var echoed: [String] = []
            let updates = try await echo.update { writer in
                for w in ["x", "y", "z"] { try await writer.write(request(w)) }
            }
            for try await r in updates { echoed.append(r.text) }
            #expect(echoed == ["x", "y", "z"])

            #expect(live.provider.callCount(.get) == 1)
            #expect(live.provider.callCount(.expand) == 1)
            #expect(live.provider.callCount(.collect) == 1)
            #expect(live.provider.callCount(.update) == 1)
        }
    }

    @Test func updateInLockStep() async throws {
        try await withLiveEcho { echo, _ in
            // The next request is written only after the previous echo was read: each echo must arrive
            // while the request stream is still open.
            let (requests, continuation) = AsyncStream.makeStream(of: Echo_EchoRequest.self)
            continuation.yield(request("m0"))
            let responses = try await echo.update(requests)
            var received: [String] = []
            for try await r in responses {
                received.append(r.text)
                if received.count == 5 { continuation.finish() } else { continuation.yield(request("m\(received.count)")) }
            }
            #expect(received == ["m0", "m1", "m2", "m3", "m4"])
        }
    }

    @Test func thousandSequentialUnaryCalls() async throws {
        try await withLiveEcho { echo, live in
            for i in 0..<1_000 {
                let r = try await echo.get(request("call \(i)"))
                #expect(r.text == "call \(i)")
            }
            #expect(live.provider.callCount(.get) == 1_000)
        }
    }

    @Test func twoHundredConcurrentUnaryCallsOnOneConnection() async throws {
        try await withLiveEcho { echo, live in
            let texts = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for i in 0..<200 {
                    group.addTask { (i, try await echo.get(request("concurrent \(i)")).text) }
                }
                var results = [String](repeating: "", count: 200)
                for try await (i, text) in group { results[i] = text }
                return results
            }
            #expect(texts == (0..<200).map { "concurrent \($0)" })
            #expect(live.provider.callCount(.get) == 200)
        }
    }

    @Test func fourMillionByteMessageBothWays() async throws {
        try await withLiveEcho { echo, _ in
            let text = String(repeating: "0123456789", count: 400_000)
            #expect(text.utf8.count == 4_000_000)
            let r = try await echo.get(request(text))
            #expect(r.text == text)
        }
    }

    @Test func metadataRoundTripASCIIAndBinary() async throws {
        try await withLiveEcho { echo, _ in
            var metadata = Metadata()
            metadata.addString("hello", forKey: "x-echo-greeting")
            let blob: [UInt8] = [0, 1, 2, 250, 255, 10, 13]
            metadata.addBinary(blob, forKey: "x-echo-blob-bin")
            let r = try await echo.getWithMetadata(request("m"), metadata: metadata)
            #expect(r.message.text == "m")
            #expect(r.metadata[stringValues: "x-echo-greeting"] == ["hello"])
            #expect(r.metadata[binaryValues: "x-echo-blob-bin"] == [blob])
            #expect(r.trailers[stringValues: "x-trailer-greeting"] == ["hello"])
            #expect(r.trailers[binaryValues: "x-trailer-blob-bin"] == [blob])
        }
    }

    @Test func deadlineExceededAgainstASlowHandlerWhichSeesCancellation() async throws {
        try await withLiveEcho { echo, live in
            let started = ContinuousClock.now
            let code = await rpcErrorCode {
                _ = try await echo.get(request("sleep:10000"), options: CallOptions(timeout: .milliseconds(200)))
            }
            let elapsed = ContinuousClock.now - started
            #expect(code == .deadlineExceeded)
            #expect(elapsed >= .milliseconds(200))
            // A safety bound: the call must end by its deadline, not by the handler's 10 s.
            #expect(elapsed < .seconds(5), "ended \(elapsed) after the call started")
            // The server enforces grpc-timeout and the client resets the stream: the handler is cancelled.
            // Bounded, so a lost cancellation fails the test instead of hanging it. A handler that had
            // not started by the deadline (a heavily loaded machine) is never called, so nothing to cancel.
            let sawCancellation = await live.provider.waitForCancellations(atLeast: 1, within: .seconds(10))
            #expect(sawCancellation || live.provider.callCount(.get) == 0)
            #expect(live.provider.cancellationCount == live.provider.callCount(.get))
        }
    }

    @Test func clientCancelsABidiStreamMidway() async throws {
        try await withLiveEcho { echo, live in
            let (requests, continuation) = AsyncStream.makeStream(of: Echo_EchoRequest.self)
            continuation.yield(request("first"))
            let responses = try await echo.update(requests)
            var iterator = responses.makeAsyncIterator()
            let first = try await iterator.next()
            #expect(first?.text == "first")
            responses.cancel()
            let code = await rpcErrorCode { while try await iterator.next() != nil {} }
            #expect(code == .cancelled)
            // The handler answered "first", so it runs: the reset must cancel it (bounded: fail, not hang).
            let sawCancellation = await live.provider.waitForCancellations(atLeast: 1, within: .seconds(10))
            #expect(sawCancellation)
            continuation.finish()
        }
    }

    @Test func unknownServiceAndMethodAreUnimplemented() async throws {
        try await withLiveEcho { echo, _ in
            let client = echo.client
            for method in [MethodDescriptor(service: "echo.Echo", method: "Nope"), MethodDescriptor(service: "echo.Nope", method: "Get")] {
                let code = await rpcErrorCode {
                    _ = try await client.unary(
                        request: request("x"), method: method,
                        serializer: ProtobufSerializer<Echo_EchoRequest>(),
                        deserializer: ProtobufDeserializer<Echo_EchoResponse>()
                    )
                }
                #expect(code == .unimplemented, "\(method)")
            }
        }
    }

    @Test func connectionRefusedIsUnavailableNamingTheAddress() async throws {
        // Bind a port, then close it, so that nothing listens there.
        let live = try await LiveEchoServer.start()
        let port = live.port
        await live.stop()
        let client = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: port))
        do {
            _ = try await Echo_EchoClient(wrapping: client).get(request("x"))
            Issue.record("the call succeeded with no server")
        } catch let error as RPCError {
            #expect(error.code == .unavailable)
            #expect(error.message.contains("127.0.0.1:\(port)"), "\(error.message)")
        }
        await client.close()
    }

    @Test func serverRestartThenTheClientReconnects() async throws {
        let first = try await LiveEchoServer.start()
        let port = first.port
        var configuration = HTTP2ClientTransport.Configuration()
        configuration.backoff = .init(initial: .milliseconds(20), multiplier: 1.6, maximum: .milliseconds(200), jitter: 0.2)
        let grpc = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: port, configuration: configuration))
        let echo = Echo_EchoClient(wrapping: grpc)
        #expect(try await echo.get(request("before")).text == "before")

        await first.stop()
        let down = await rpcErrorCode { _ = try await echo.get(request("while down")) }
        #expect(down == .unavailable)

        let second = try await LiveEchoServer.start(port: port)
        // Reconnection is paced by the backoff: poll (bounded) until a call gets through.
        var reply: String?
        for _ in 0..<100 where reply == nil {
            reply = try? await echo.get(request("after")).text
            if reply == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(reply == "after")
        #expect(second.provider.callCount(.get) == 1)
        await grpc.close()
        await second.stop()
    }

    @Test func gracefulShutdownLetsInFlightCallsFinish() async throws {
        let live = try await LiveEchoServer.start()
        let grpc = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: live.port))
        let echo = Echo_EchoClient(wrapping: grpc)
        async let inFlight = echo.get(request("sleep:300"))
        await live.provider.waitForCalls(atLeast: 1)
        // A grace period far above the handler's 300 ms: shutdown returns as soon as the call finished.
        await live.server.shutdownGracefully(gracePeriod: .seconds(30))
        #expect(try await inFlight.text == "sleep:300")
        // After shutdown nothing listens: a new call fails fast.
        let after = await rpcErrorCode { _ = try await echo.get(request("late")) }
        #expect(after == .unavailable)
        await grpc.close()
    }

    @Test func gzipRequestsAndResponses() async throws {
        try await withLiveEcho { echo, _ in
            let text = String(repeating: "compressible ", count: 10_000)
            let r = try await echo.get(request(text), options: CallOptions(compression: .gzip))
            #expect(r.text == text)
        }
    }

    @Test func messageOverTheReceiveLimitIsResourceExhausted() async throws {
        try await withLiveEcho { echo, _ in
            let text = String(repeating: "x", count: 5 * 1024 * 1024)
            let code = await rpcErrorCode { _ = try await echo.get(request(text)) }
            #expect(code == .resourceExhausted)
            // The connection is still usable afterwards.
            let still = try await echo.get(request("still here"))
            #expect(still.text == "still here")
        }
    }

    @Test func ipv6Loopback() async throws {
        let live = try await LiveEchoServer.start(host: "::1")
        let grpc = GRPCClient(transport: HTTP2ClientTransport(host: "::1", port: live.port))
        #expect(try await Echo_EchoClient(wrapping: grpc).get(request("v6")).text == "v6")
        await grpc.close()
        await live.stop()
    }
}
