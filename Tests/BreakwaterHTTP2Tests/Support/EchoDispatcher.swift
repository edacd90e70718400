@_spi(Locking) import BreakwaterCore
import BreakwaterHTTP2

/// A test-only dispatcher over the server transport contract: echoes messages back, or hangs, by path.
///
/// - `/test.Echo/Echo`: every request message is sent back, then OK.
/// - `/test.Echo/Collect`: the request messages concatenated in one response, then OK.
/// - `/test.Echo/Hang`: never answers; records the cancellation.
/// - `/test.Echo/Stall`: never reads the request and never answers, until cancelled.
/// - `/test.Echo/Flood`: 200 messages of 64 KiB, counted in `sent`.
/// - `/test.Echo/Expand`: as many numbered messages of the size asked (`TestCalls.expandRequest`), counted
///   in `sent`.
/// - `/test.Echo/Encoding`: answers the request and response encodings and the peer as trailers.
/// - `/test.Echo/Metadata`: answers the request metadata back as trailers.
final class EchoDispatcher: Sendable {
    let cancellations = AsyncStream<String>.makeStream()
    private let accepted = TSanMutex(0)
    /// Messages the Flood and Expand handlers managed to send.
    let sent = TSanMutex(0)

    var acceptedCount: Int { accepted.withLock { $0 } }

    /// Returns once `count` streams were accepted (or after 5 s).
    func waitForAccepted(_ count: Int) async {
        for _ in 0..<500 where acceptedCount < count {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    func accept(_ stream: any ServerTransportStream) {
        accepted.withLock { $0 += 1 }
        let path = stream.head.path
        let continuation = cancellations.continuation
        stream.onCancel { continuation.yield(path) }
        Task(executorPreference: stream.preferredExecutor) {
            await self.handle(stream)
        }
    }

    private func handle(_ stream: any ServerTransportStream) async {
        do {
            switch stream.head.path {
            case "/test.Echo/Echo":
                while let message = try await stream.receive() {
                    try await stream.send(message)
                }
                stream.finish(status: .ok, trailers: [:])
            case "/test.Echo/Collect":
                var all: [UInt8] = []
                while let message = try await stream.receive() { all += message }
                try await stream.send(all)
                stream.finish(status: .ok, trailers: ["count": .string(String(all.count))])
            case "/test.Echo/Hang":
                while try await stream.receive() != nil {}
                // Never finishes: the deadline or the client ends it.
            case "/test.Echo/Flood":
                // Sends `count` messages of 64 KiB, counting how many the transport accepted.
                _ = try await stream.receive()
                for i in 0..<200 {
                    try await stream.send([UInt8](repeating: UInt8(i), count: 64 * 1024))
                    sent.withLock { $0 += 1 }
                }
                stream.finish(status: .ok, trailers: [:])
            case "/test.Echo/Expand":
                // Server streaming of small messages: the request is the count (4 bytes) and the size
                // (2 bytes, at least 4), big-endian; message i starts with i (4 bytes), counted as `sent`.
                guard let request = try await stream.receive(), request.count == 6 else {
                    stream.finish(status: Status(code: .invalidArgument, message: "count and size"), trailers: [:])
                    return
                }
                let count = request[0..<4].reduce(0) { $0 << 8 | Int($1) }
                let size = max(4, Int(request[4]) << 8 | Int(request[5]))
                for i in 0..<count {
                    var message = [UInt8](repeating: 0x5a, count: size)
                    message[0] = UInt8(truncatingIfNeeded: i >> 24)
                    message[1] = UInt8(truncatingIfNeeded: i >> 16)
                    message[2] = UInt8(truncatingIfNeeded: i >> 8)
                    message[3] = UInt8(truncatingIfNeeded: i)
                    try await stream.send(message)
                    sent.withLock { $0 += 1 }
                }
                stream.finish(status: .ok, trailers: [:])
            case "/test.Echo/Stall":
                // Never reads and never answers: received bytes pile up until the client ends the call.
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in stream.onCancel { c.resume() } }
            case "/test.Echo/OnLoop":
                // Reports whether the handler runs on the event loop that owns its stream.
                while try await stream.receive() != nil {}
                let onLoop = (stream.preferredExecutor as? EventLoop)?.inEventLoop ?? false
                stream.finish(status: .ok, trailers: ["on-loop": .string(String(onLoop))])
            case "/test.Echo/Encoding":
                while try await stream.receive() != nil {}
                stream.finish(
                    status: .ok,
                    trailers: [
                        "request-encoding": .string(stream.head.requestEncoding.rawValue),
                        "response-encoding": .string(stream.head.responseEncoding.rawValue),
                        "peer": .string(stream.head.peer),
                    ])
            case "/test.Echo/Metadata":
                while try await stream.receive() != nil {}
                stream.finish(status: Status(code: .notFound, message: "nothing here"), trailers: stream.head.metadata)
            default:
                stream.finish(status: Status(code: .unimplemented, message: "unknown \(stream.head.path)"), trailers: [:])
            }
        } catch let error as RPCError {
            stream.finish(status: error.status, trailers: [:])
        } catch {
            stream.finish(status: Status(code: .unknown, message: "\(error)"), trailers: [:])
        }
    }
}

/// A started server with its dispatcher.
struct TestServer {
    let transport: HTTP2ServerTransport
    let dispatcher: EchoDispatcher
    let port: Int

    static func start(
        host: String = "127.0.0.1", port: Int = 0, configuration: HTTP2ServerTransport.Configuration = .init(),
        group: EventLoopGroup = .shared
    ) async throws -> TestServer {
        let transport = HTTP2ServerTransport(host: host, port: port, configuration: configuration, group: group)
        let dispatcher = EchoDispatcher()
        let bound = try await transport.start { dispatcher.accept($0) }
        return TestServer(transport: transport, dispatcher: dispatcher, port: bound)
    }
}

/// The outcome of a call made over the raw client transport contract.
struct CallResult {
    var headers: Metadata?
    var messages: [[UInt8]] = []
    var end: ClientStreamEnd?
    var status: Status { end?.status ?? Status(code: .unknown, message: "no end") }
}

enum TestCalls {
    static func method(_ name: String) -> MethodDescriptor { MethodDescriptor(service: "test.Echo", method: name) }

    /// The request of `/test.Echo/Expand`: `count` messages of `size` bytes (at least 4).
    static func expandRequest(count: Int, size: Int) -> [UInt8] {
        [UInt8(count >> 24 & 0xff), UInt8(count >> 16 & 0xff), UInt8(count >> 8 & 0xff), UInt8(count & 0xff),
         UInt8(size >> 8 & 0xff), UInt8(size & 0xff)]
    }

    /// The number an `/test.Echo/Expand` message starts with.
    static func expandIndex(_ message: [UInt8]) -> Int {
        message.count < 4 ? -1 : message[0..<4].reduce(0) { $0 << 8 | Int($1) }
    }

    /// Sends `requests` (half-closing after the last) and reads every event.
    static func call(
        _ client: some ClientTransport, _ name: String, _ requests: [[UInt8]],
        deadline: ContinuousClock.Instant? = nil, compression: CompressionAlgorithm = .identity,
        metadata: Metadata = [:], maxReceive: Int = 4 * 1024 * 1024, waitForReady: Bool = false, isProbe: Bool = false
    ) async -> CallResult {
        let head = ClientRequestHead(
            method: method(name), metadata: metadata, deadline: deadline, compression: compression,
            maxReceiveMessageBytes: maxReceive, waitForReady: waitForReady, isProbe: isProbe)
        let stream = await client.makeStream(head: head)
        for (i, request) in requests.enumerated() {
            do {
                try await stream.send(request, endStream: i == requests.count - 1)
            } catch {
                break
            }
        }
        if requests.isEmpty { stream.finishSending() }
        return await readAll(stream)
    }

    static func readAll(_ stream: any ClientTransportStream) async -> CallResult {
        var result = CallResult()
        while let event = await stream.next() {
            switch event {
            case .headers(let metadata): result.headers = metadata
            case .message(let bytes): result.messages.append(bytes)
            case .end(let end): result.end = end
            }
        }
        return result
    }
}
