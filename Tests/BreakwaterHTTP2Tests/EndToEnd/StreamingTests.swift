@_spi(Locking) import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterTestSupport
import Testing

@Suite(.timeLimit(.minutes(TestTime.minutes(1)))) struct StreamingTests {
    @Test func manyConcurrentStreamsOnOneConnection() async throws {
        let server = try await TestServer.start()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        try await Self.runConcurrent(client, count: 200)
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func streamsBeyondMaxConcurrentStreamsAreQueued() async throws {
        let server = try await TestServer.start(configuration: .init(maxConcurrentStreams: 10))
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        try await Self.runConcurrent(client, count: 200)
        #expect(server.dispatcher.acceptedCount == 200)
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    static func runConcurrent(_ client: HTTP2ClientTransport, count: Int) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<count {
                group.addTask {
                    let payload = Array("message \(i)".utf8) + [UInt8](repeating: UInt8(i % 256), count: i * 10)
                    let result = await TestCalls.call(client, "Echo", [payload])
                    #expect(result.status.code == .ok, "\(i): \(result.status)")
                    #expect(result.messages == [payload])
                }
            }
            try await group.waitForAll()
        }
    }

    /// Many small messages per DATA frame and per read, several streams on one connection: a reader is
    /// woken once per loop turn with everything that turn brought, and must still see every message once,
    /// in order, before the end. Half the readers pause now and then, so that messages pile up for them
    /// (and their streams go behind their receive buffer) while the others keep up.
    ///
    /// With `pollFirst`, readers take what is there with `nextIfReady()` and call `next()` only when it
    /// says `.notReady` (as `ResponseStream` does): the same events must come, and a reader that paused
    /// must have found messages queued after its pauses.
    @Test(arguments: [false, true])
    func serverStreamingSmallMessagesArriveInOrder(pollFirst: Bool) async throws {
        let server = try await TestServer.start()
        let client = HTTP2ClientTransport(
            host: "127.0.0.1", port: server.port, configuration: .init(streamReceiveBufferBytes: 8 * 1024))
        let count = 5000
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<8 {
                group.addTask {
                    let stream = await client.makeStream(head: ClientRequestHead(method: TestCalls.method("Expand")))
                    if pollFirst {
                        // Nothing can have arrived for a stream whose request has not left.
                        guard case .notReady = stream.nextIfReady() else {
                            Issue.record("caller \(caller): an event before the request")
                            return
                        }
                    }
                    try await stream.send(TestCalls.expandRequest(count: count, size: 16), endStream: true)
                    var next = 0
                    var polled = 0
                    var sawHeaders = false
                    var end: ClientStreamEnd?
                    func take() async -> ClientStreamEvent? {
                        if pollFirst, case .ready(let event) = stream.nextIfReady() {
                            polled += 1
                            return event
                        }
                        return await stream.next()
                    }
                    while let event = await take() {
                        switch event {
                        case .headers:
                            #expect(!sawHeaders && next == 0, "caller \(caller): headers twice or after a message")
                            sawHeaders = true
                        case .message(let bytes):
                            #expect(end == nil, "caller \(caller): a message after the end")
                            #expect(bytes.count == 16 && TestCalls.expandIndex(bytes) == next, "caller \(caller): message \(next)")
                            next += 1
                            if caller % 2 == 1 && next % 1000 == 0 { try await Task.sleep(for: .milliseconds(20)) }
                        case .end(let streamEnd):
                            end = streamEnd
                        }
                    }
                    #expect(sawHeaders)
                    #expect(next == count, "caller \(caller)")
                    #expect(end?.status.code == .ok, "caller \(caller): \(String(describing: end?.status))")
                    if pollFirst {
                        if caller % 2 == 1 { #expect(polled > 0, "caller \(caller): nothing queued after four pauses") }
                        // After the end, polling answers as `next` does: nothing more.
                        guard case .ready(nil) = stream.nextIfReady() else {
                            Issue.record("caller \(caller): an event after the end")
                            return
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func largeMessagesBothWays() async throws {
        let server = try await TestServer.start()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        let payload = (0..<4_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let result = await TestCalls.call(client, "Echo", [payload])
        #expect(result.status.code == .ok, "\(result.status)")
        #expect(result.messages.count == 1)
        #expect(result.messages.first == payload)
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func clientStreamingKeepsOrder() async throws {
        let server = try await TestServer.start()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        let requests = (0..<100).map { [UInt8(truncatingIfNeeded: $0)] + Array("-\($0)".utf8) }
        let result = await TestCalls.call(client, "Collect", requests)
        #expect(result.status.code == .ok)
        #expect(result.messages == [requests.flatMap { $0 }])
        #expect(result.end?.trailers.firstString(forKey: "count") == String(requests.flatMap { $0 }.count))
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func bidirectionalPingPongInOrder() async throws {
        let server = try await TestServer.start()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        let stream = await client.makeStream(head: ClientRequestHead(method: TestCalls.method("Echo")))
        var sawHeaders = false
        for i in 0..<50 {
            let message = Array("ping \(i)".utf8)
            try await stream.send(message, endStream: false)
            var echoed: [UInt8]?
            while echoed == nil, let event = await stream.next() {
                switch event {
                case .headers: sawHeaders = true
                case .message(let bytes): echoed = bytes
                case .end(let end): Issue.record("ended early: \(end.status)")
                }
            }
            #expect(echoed == message)
        }
        #expect(sawHeaders)
        stream.finishSending()
        let rest = await TestCalls.readAll(stream)
        #expect(rest.messages.isEmpty)
        #expect(rest.status.code == .ok)
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func gzipRequestAndResponse() async throws {
        let server = try await TestServer.start()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        let payload = [UInt8](repeating: 7, count: 100_000) + Array("tail".utf8)
        let result = await TestCalls.call(client, "Echo", [payload, payload], compression: .gzip)
        #expect(result.status.code == .ok, "\(result.status)")
        #expect(result.messages == [payload, payload])
        let encodings = await TestCalls.call(client, "Encoding", [[1, 2, 3]], compression: .gzip)
        #expect(encodings.end?.trailers.firstString(forKey: "request-encoding") == "gzip")
        #expect(encodings.end?.trailers.firstString(forKey: "response-encoding") == "gzip")
        #expect(encodings.end?.trailers.firstString(forKey: "peer")?.hasPrefix("ipv4:127.0.0.1:") == true)
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }
}

@Suite(.timeLimit(.minutes(TestTime.minutes(1)))) struct FlowControlTests {
    @Test func slowReaderSlowsTheSender() async throws {
        let server = try await TestServer.start()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        let stream = await client.makeStream(head: ClientRequestHead(method: TestCalls.method("Flood")))
        try await stream.send([1], endStream: true)
        // Take the headers and one message, then stop reading for a while. The server can only get as far
        // as the windows and buffers allow (about 1.3 MiB here), far from the 12.5 MiB it wants to send.
        var received = 0
        while received == 0, let event = await stream.next() {
            if case .message = event { received += 1 }
        }
        try await Task.sleep(for: .milliseconds(300))  // gives the sender time to run ahead if it could
        let sentWhileStalled = server.dispatcher.sent.withLock { $0 }
        #expect(sentWhileStalled < 60, "sender ran ahead of a stalled reader: \(sentWhileStalled) messages")
        // Reading resumes the sender.
        let rest = await TestCalls.readAll(stream)
        #expect(rest.status.code == .ok, "\(rest.status)")
        #expect(received + rest.messages.count == 200)
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    /// Small messages, many per DATA frame and per read, delivered in batches: received bytes still go back
    /// to the peer only as the reader takes messages. A stalled reader holds the sender to about the
    /// stream window, its receive buffer and the server's own send buffer (64 KiB each, 16 KiB: some 1,400
    /// messages of 100 bytes), far from the 20,000 it wants to send.
    @Test func slowReaderOfSmallMessagesSlowsTheSender() async throws {
        let server = try await TestServer.start()
        let client = HTTP2ClientTransport(
            host: "127.0.0.1", port: server.port,
            configuration: .init(initialStreamWindowSize: 64 * 1024, streamReceiveBufferBytes: 16 * 1024))
        let stream = await client.makeStream(head: ClientRequestHead(method: TestCalls.method("Expand")))
        try await stream.send(TestCalls.expandRequest(count: 20_000, size: 100), endStream: true)
        var received = 0
        while received == 0, let event = await stream.next() {
            if case .message = event { received += 1 }
        }
        try await Task.sleep(for: .milliseconds(300))  // gives the sender time to run ahead if it could
        let sentWhileStalled = server.dispatcher.sent.withLock { $0 }
        #expect(sentWhileStalled < 3000, "sender ran ahead of a stalled reader: \(sentWhileStalled) messages")
        // Reading resumes the sender; everything arrives, in order.
        let rest = await TestCalls.readAll(stream)
        #expect(rest.status.code == .ok, "\(rest.status)")
        #expect(received + rest.messages.count == 20_000)
        #expect(rest.messages.map(TestCalls.expandIndex) == Array(1..<20_000))
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }
}
