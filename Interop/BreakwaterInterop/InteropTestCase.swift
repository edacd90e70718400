import BreakwaterCore
import Foundation

/// A client-side interop test case of gRPC's interop test descriptions
/// (<https://github.com/grpc/grpc/blob/master/doc/interop-test-descriptions.md>), run against a
/// `grpc.testing.TestService` server.
///
/// Where the description asks the client to assert a message's compressed flag, the case checks the
/// payload only: the transport decompresses messages before the application sees them.
package enum InteropTestCase: String, CaseIterable, Sendable {
    case emptyUnary = "empty_unary"
    case largeUnary = "large_unary"
    case clientCompressedUnary = "client_compressed_unary"
    case serverCompressedUnary = "server_compressed_unary"
    case clientStreaming = "client_streaming"
    case clientCompressedStreaming = "client_compressed_streaming"
    case serverStreaming = "server_streaming"
    case serverCompressedStreaming = "server_compressed_streaming"
    case pingPong = "ping_pong"
    case emptyStream = "empty_stream"
    case timeoutOnSleepingServer = "timeout_on_sleeping_server"
    case cancelAfterBegin = "cancel_after_begin"
    case cancelAfterFirstResponse = "cancel_after_first_response"
    case statusCodeAndMessage = "status_code_and_message"
    case specialStatusMessage = "special_status_message"
    case customMetadata = "custom_metadata"
    case unimplementedMethod = "unimplemented_method"
    case unimplementedService = "unimplemented_service"

    /// A failed assertion of a test case.
    package struct Failure: Error, CustomStringConvertible {
        package var description: String
        init(_ description: String) { self.description = description }
    }

    /// Runs the case over `client`; throws `Failure` (or the call's error) when it does not pass.
    ///
    /// With `skipCompressionProbe`, client_compressed_unary and client_compressed_streaming leave out
    /// their first step (an uncompressed request that asks to be compressed must fail with
    /// INVALID_ARGUMENT), for servers that cannot tell a compressed request, such as grpcio's Python one.
    package func run(_ client: GRPCClient, skipCompressionProbe: Bool = false) async throws {
        let test = Grpc_Testing_TestService.Client(wrapping: client)
        switch self {
        case .emptyUnary:
            _ = try await test.emptyCall(Grpc_Testing_Empty())
        case .largeUnary:
            let response = try await test.unaryCall(Self.simpleRequest(responseSize: 314_159, payloadSize: 271_828))
            try Self.expectPayload(response.payload, size: 314_159)
        case .clientCompressedUnary:
            // The probe: expect_compressed on an uncompressed request must fail.
            var probe = Self.simpleRequest(responseSize: 314_159, payloadSize: 271_828)
            probe.expectCompressed = .with { $0.value = true }
            if !skipCompressionProbe {
                try await Self.expectStatus(.invalidArgument) { _ = try await test.unaryCall(probe) }
            }
            let compressed = try await test.unaryCall(probe, options: CallOptions(compression: .gzip))
            try Self.expectPayload(compressed.payload, size: 314_159)
            var plain = probe
            plain.expectCompressed = .with { $0.value = false }
            let uncompressed = try await test.unaryCall(plain)
            try Self.expectPayload(uncompressed.payload, size: 314_159)
        case .serverCompressedUnary:
            for compressed in [true, false] {
                var request = Self.simpleRequest(responseSize: 314_159, payloadSize: 271_828)
                request.responseCompressed = .with { $0.value = compressed }
                let response = try await test.unaryCall(request)
                try Self.expectPayload(response.payload, size: 314_159)
            }
        case .clientStreaming:
            let sizes = [27_182, 8, 1_828, 45_904]
            let response = try await test.streamingInputCall { writer in
                for size in sizes {
                    try await writer.write(.with { $0.payload = TestServiceProvider.payload(size: size) })
                }
            }
            try Self.expect(response.aggregatedPayloadSize == 74_922, "aggregated size \(response.aggregatedPayloadSize), expected 74922")
        case .clientCompressedStreaming:
            if !skipCompressionProbe {
                try await Self.expectStatus(.invalidArgument) {
                    _ = try await test.streamingInputCall { writer in
                        try await writer.write(.with {
                            $0.payload = TestServiceProvider.payload(size: 27_182)
                            $0.expectCompressed = .with { $0.value = true }
                        })
                    }
                }
            }
            // The description sends the second message uncompressed in the same call; compression is
            // per call here, so both go compressed (the second does not ask to be checked).
            let response = try await test.streamingInputCall(options: CallOptions(compression: .gzip)) { writer in
                try await writer.write(.with {
                    $0.payload = TestServiceProvider.payload(size: 27_182)
                    $0.expectCompressed = .with { $0.value = true }
                })
                try await writer.write(.with {
                    $0.payload = TestServiceProvider.payload(size: 45_904)
                    $0.expectCompressed = .with { $0.value = false }
                })
            }
            try Self.expect(response.aggregatedPayloadSize == 73_086, "aggregated size \(response.aggregatedPayloadSize), expected 73086")
        case .serverStreaming, .serverCompressedStreaming:
            let sizes = self == .serverStreaming ? [31_415, 9, 2_653, 58_979] : [31_415, 92_653]
            let request = Grpc_Testing_StreamingOutputCallRequest.with { request in
                request.responseParameters = sizes.enumerated().map { index, size in
                    .with {
                        $0.size = Int32(size)
                        if self == .serverCompressedStreaming { $0.compressed = .with { $0.value = index == 0 } }
                    }
                }
            }
            var received: [Int] = []
            for try await response in try await test.streamingOutputCall(request) {
                received.append(response.payload.body.count)
            }
            try Self.expect(received == sizes, "response sizes \(received), expected \(sizes)")
        case .pingPong:
            let responseSizes = [31_415, 9, 2_653, 58_979]
            let payloadSizes = [27_182, 8, 1_828, 45_904]
            let (requests, continuation) = AsyncStream.makeStream(of: Grpc_Testing_StreamingOutputCallRequest.self)
            func request(_ index: Int) -> Grpc_Testing_StreamingOutputCallRequest {
                .with {
                    $0.responseParameters = [.with { $0.size = Int32(responseSizes[index]) }]
                    $0.payload = TestServiceProvider.payload(size: payloadSizes[index])
                }
            }
            continuation.yield(request(0))
            var received: [Int] = []
            for try await response in try await test.fullDuplexCall(requests) {
                received.append(response.payload.body.count)
                if received.count == responseSizes.count {
                    continuation.finish()
                } else {
                    continuation.yield(request(received.count))
                }
            }
            continuation.finish()
            try Self.expect(received == responseSizes, "response sizes \(received), expected \(responseSizes)")
        case .emptyStream:
            var count = 0
            for try await _ in try await test.fullDuplexCall(requests: { _ in }) { count += 1 }
            try Self.expect(count == 0, "\(count) responses, expected none")
        case .timeoutOnSleepingServer:
            try await Self.expectStatus(.deadlineExceeded) {
                let stream = try await test.fullDuplexCall(options: CallOptions(timeout: .milliseconds(1))) { writer in
                    try await writer.write(.with { $0.payload = TestServiceProvider.payload(size: 27_182) })
                    try await Task.sleep(for: .seconds(10))
                }
                for try await _ in stream {}
            }
        case .cancelAfterBegin:
            let call = Task {
                try await test.streamingInputCall { _ in try await Task.sleep(for: .seconds(10)) }
            }
            try await Task.sleep(for: .milliseconds(50))
            call.cancel()
            try await Self.expectStatus(.cancelled) { _ = try await call.value }
        case .cancelAfterFirstResponse:
            let (requests, continuation) = AsyncStream.makeStream(of: Grpc_Testing_StreamingOutputCallRequest.self)
            continuation.yield(.with {
                $0.responseParameters = [.with { $0.size = 31_415 }]
                $0.payload = TestServiceProvider.payload(size: 27_182)
            })
            let stream = try await test.fullDuplexCall(requests)
            try await Self.expectStatus(.cancelled) {
                for try await _ in stream { stream.cancel() }
                throw Failure("the stream ended normally after cancel()")
            }
            continuation.finish()
        case .statusCodeAndMessage, .specialStatusMessage:
            let message = self == .statusCodeAndMessage
                ? "test status message"
                : "\t\ntest with whitespace\r\nand Unicode BMP \u{263A} and non-BMP \u{1F608}\t\n"
            let status = Grpc_Testing_EchoStatus.with {
                $0.code = 2
                $0.message = message
            }
            try await Self.expectStatus(.unknown, message: message) {
                _ = try await test.unaryCall(.with { $0.responseStatus = status })
            }
            if self == .statusCodeAndMessage {
                try await Self.expectStatus(.unknown, message: message) {
                    for try await _ in try await test.fullDuplexCall([Grpc_Testing_StreamingOutputCallRequest.with { $0.responseStatus = status }].async) {}
                }
            }
        case .customMetadata:
            var metadata = Metadata()
            metadata.addString("test_initial_metadata_value", forKey: "x-grpc-test-echo-initial")
            metadata.addBinary([0xAB, 0xAB, 0xAB], forKey: "x-grpc-test-echo-trailing-bin")
            let unary = try await test.unaryCallWithMetadata(
                Self.simpleRequest(responseSize: 314_159, payloadSize: 271_828), metadata: metadata)
            try Self.expectPayload(unary.message.payload, size: 314_159)
            try Self.expectEchoed(headers: unary.metadata, trailers: unary.trailers)
            let stream = try await test.fullDuplexCall(
                [Grpc_Testing_StreamingOutputCallRequest.with {
                    $0.responseParameters = [.with { $0.size = 314_159 }]
                    $0.payload = TestServiceProvider.payload(size: 271_828)
                }].async,
                metadata: metadata)
            var sizes: [Int] = []
            for try await response in stream { sizes.append(response.payload.body.count) }
            try Self.expect(sizes == [314_159], "response sizes \(sizes), expected [314159]")
            try Self.expectEchoed(headers: try await stream.metadata, trailers: stream.trailers ?? [:])
        case .unimplementedMethod:
            try await Self.expectStatus(.unimplemented) { _ = try await test.unimplementedCall(Grpc_Testing_Empty()) }
        case .unimplementedService:
            let unimplemented = Grpc_Testing_UnimplementedService.Client(wrapping: client)
            try await Self.expectStatus(.unimplemented) { _ = try await unimplemented.unimplementedCall(Grpc_Testing_Empty()) }
        }
    }

    // MARK: Helpers

    private static func simpleRequest(responseSize: Int, payloadSize: Int) -> Grpc_Testing_SimpleRequest {
        .with {
            $0.responseType = .compressable
            $0.responseSize = Int32(responseSize)
            $0.payload = TestServiceProvider.payload(size: payloadSize)
        }
    }

    private static func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw Failure(message()) }
    }

    private static func expectPayload(_ payload: Grpc_Testing_Payload, size: Int) throws {
        try expect(payload.body.count == size, "payload of \(payload.body.count) bytes, expected \(size)")
        try expect(payload.body.allSatisfy { $0 == 0 }, "payload bytes are not all zero")
    }

    private static func expectEchoed(headers: Metadata, trailers: Metadata) throws {
        let initial = headers.firstString(forKey: "x-grpc-test-echo-initial")
        try expect(initial == "test_initial_metadata_value", "initial metadata \(initial ?? "missing")")
        let trailing = trailers[binaryValues: "x-grpc-test-echo-trailing-bin"].first
        try expect(trailing == [0xAB, 0xAB, 0xAB], "trailing metadata \(trailing.map { "\($0)" } ?? "missing")")
    }

    /// Runs `body` and checks it fails with an `RPCError` of `code` (and `message`, when given).
    private static func expectStatus(
        _ code: Status.Code, message: String? = nil, _ body: () async throws -> Void
    ) async throws {
        do {
            try await body()
        } catch let error as RPCError {
            try expect(error.code == code, "status \(error.code.name) (\(error.message)), expected \(code.name)")
            if let message {
                try expect(error.message == message, "status message \(error.message.debugDescription), expected \(message.debugDescription)")
            }
            return
        }
        throw Failure("the call succeeded, expected \(code.name)")
    }
}

extension Array where Element: Sendable {
    /// The elements as an `AsyncSequence`.
    var async: AsyncStream<Element> {
        AsyncStream { continuation in
            for element in self { continuation.yield(element) }
            continuation.finish()
        }
    }
}
