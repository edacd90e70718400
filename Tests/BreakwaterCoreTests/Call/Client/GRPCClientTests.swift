import BreakwaterCore
import BreakwaterTestSupport
import Testing

@Suite("GRPCClient over the in-process transport", .timeLimit(.minutes(TestTime.minutes(1))))
struct GRPCClientTests {
    @Test func unaryRoundTrip() async throws {
        try await withClientAndServer { client, service in
            let response = try await client.unaryString("hello")
            #expect(response.message == "hello")
            #expect(service.requests.all == ["hello"])
        }
    }

    @Test func clientStreaming() async throws {
        try await withClientAndServer { client, _ in
            let joined = try await client.clientStreaming(
                method: TestMethods.clientStreaming, serializer: StringSerializer(),
                deserializer: StringDeserializer()
            ) { writer in
                try await writer.write("a")
                try await writer.write(contentsOf: ["b", "c"])
            }
            #expect(joined == "a,b,c")
        }
    }

    @Test func clientStreamingFromSequence() async throws {
        try await withClientAndServer { client, _ in
            let (stream, continuation) = AsyncStream.makeStream(of: String.self)
            for s in ["x", "y"] { continuation.yield(s) }
            continuation.finish()
            let joined = try await client.clientStreaming(
                method: TestMethods.clientStreaming, serializer: StringSerializer(),
                deserializer: StringDeserializer(), requests: stream)
            #expect(joined == "x,y")
        }
    }

    @Test func serverStreaming() async throws {
        try await withClientAndServer { client, _ in
            let stream = try await client.serverStreaming(
                request: "one,two,three", method: TestMethods.serverStreaming,
                serializer: StringSerializer(), deserializer: StringDeserializer(),
                metadata: ["x-echo": "s"])
            #expect(try await stream.metadata.firstString(forKey: "x-echo") == "s")
            #expect(stream.trailers == nil)
            var received: [String] = []
            for try await message in stream { received.append(message) }
            #expect(received == ["one", "two", "three"])
            #expect(stream.trailers?.firstString(forKey: "trailer-x-echo") == "s")
        }
    }

    @Test func bidirectionalStreaming() async throws {
        try await withClientAndServer { client, _ in
            let stream = try await client.bidirectionalStreaming(
                method: TestMethods.bidi, serializer: StringSerializer(), deserializer: StringDeserializer()
            ) { writer in
                for i in 0..<100 { try await writer.write("m\(i)") }
            }
            var received: [String] = []
            for try await message in stream { received.append(message) }
            #expect(received == (0..<100).map { "m\($0)" })
        }
    }

    @Test func metadataRoundTripsBothWays() async throws {
        try await withClientAndServer { client, _ in
            var metadata: Metadata = ["x-echo-ascii": "value one"]
            metadata.addBinary([0, 1, 2, 255], forKey: "x-echo-data-bin")
            let response = try await client.unaryString("m", metadata: metadata)
            #expect(response.metadata.firstString(forKey: "x-echo-ascii") == "value one")
            #expect(response.metadata[binaryValues: "x-echo-data-bin"] == [[0, 1, 2, 255]])
            #expect(response.trailers.firstString(forKey: "trailer-x-echo-ascii") == "value one")
            #expect(response.trailers[binaryValues: "trailer-x-echo-data-bin"] == [[0, 1, 2, 255]])
        }
    }

    @Test func handlerRPCErrorReachesTheCallerWithTrailers() async throws {
        try await withClientAndServer { client, _ in
            let error = await #expect(throws: RPCError.self) {
                _ = try await client.unaryString("thing", method: TestMethods.fail)
            }
            #expect(error?.code == .notFound)
            #expect(error?.message == "no such thing: thing")
            #expect(error?.metadata.firstString(forKey: "x-detail") == "missing")
            #expect(error?.metadata.firstString(forKey: "x-context") == "from-context")
        }
    }

    @Test func unexpectedHandlerErrorIsUnknownWithoutDetails() async throws {
        try await withClientAndServer { client, _ in
            let error = await #expect(throws: RPCError.self) {
                _ = try await client.unaryString("x", method: TestMethods.crash)
            }
            #expect(error?.code == .unknown)
            #expect(error?.message.contains("hunter2") == false)
            #expect(error?.message.contains("SecretError") == false)
        }
    }

    @Test func deadlineExceededAgainstAHangingHandler() async throws {
        try await withClientAndServer { client, service in
            let error = await #expect(throws: RPCError.self) {
                _ = try await client.unaryString(
                    "x", method: TestMethods.hang, options: CallOptions(timeout: .milliseconds(50)))
            }
            #expect(error?.code == .deadlineExceeded)
            await service.handlerCancelled.wait()  // the handler saw the cancellation
        }
    }

    @Test func deadlineAlreadyPassedFailsWithoutOpeningAStream() async throws {
        try await withClientAndServer { client, service in
            let error = await #expect(throws: RPCError.self) {
                _ = try await client.unaryString(
                    "x", options: CallOptions(deadline: .now.advanced(by: .seconds(-1))))
            }
            #expect(error?.code == .deadlineExceeded)
            #expect(service.requests.all.isEmpty)
        }
    }

    @Test func clientCancelsABidiStream() async throws {
        try await withClientAndServer { client, service in
            let stream = try await client.bidirectionalStreaming(
                method: TestMethods.bidi, serializer: StringSerializer(), deserializer: StringDeserializer()
            ) { writer in
                try await writer.write("ping")
                try await Task.sleep(for: .seconds(3600))  // keep the request side open
            }
            var iterator = stream.makeAsyncIterator()
            #expect(try await iterator.next() == "ping")
            stream.cancel()
            let error = await #expect(throws: RPCError.self) { _ = try await iterator.next() }
            #expect(error?.code == .cancelled)
            await service.handlerCancelled.wait()
        }
    }

    @Test func droppingAResponseStreamCancelsTheCall() async throws {
        try await withClientAndServer { client, service in
            do {
                let stream = try await client.serverStreaming(
                    request: "x", method: TestMethods.hangStreaming,
                    serializer: StringSerializer(), deserializer: StringDeserializer())
                var iterator = stream.makeAsyncIterator()
                #expect(try await iterator.next() == "first")
                await service.handlerStarted.wait()
            }
            await service.handlerCancelled.wait()
        }
    }

    @Test func cancellingTheCallingTaskCancelsTheCall() async throws {
        try await withClientAndServer { client, service in
            let task = Task {
                try await client.unaryString("x", method: TestMethods.hang)
            }
            await service.handlerStarted.wait()
            task.cancel()
            let error = await #expect(throws: RPCError.self) { _ = try await task.value }
            #expect(error?.code == .cancelled)
            await service.handlerCancelled.wait()
        }
    }

    @Test func requestProducerErrorEndsTheCall() async throws {
        struct ProducerFailed: Error {}
        try await withClientAndServer { client, _ in
            let error = await #expect(throws: RPCError.self) {
                _ = try await client.clientStreaming(
                    method: TestMethods.clientStreaming, serializer: StringSerializer(),
                    deserializer: StringDeserializer()
                ) { writer in
                    try await writer.write("a")
                    throw ProducerFailed()
                }
            }
            #expect(error?.code == .unknown)
            #expect(error?.cause is ProducerFailed)
        }
    }

    @Test func responseDeserializationFailureIsInternal() async throws {
        struct Rejecting: MessageDeserializer {
            struct Bad: Error {}
            func deserialize(_ bytes: [UInt8]) throws -> String { throw Bad() }
        }
        try await withClientAndServer { client, _ in
            let error = await #expect(throws: RPCError.self) {
                _ = try await client.unary(
                    request: "x", method: TestMethods.unary, serializer: StringSerializer(),
                    deserializer: Rejecting())
            }
            #expect(error?.code == .internalError)
        }
    }

    @Test func requestSerializationFailureIsInternal() async throws {
        struct Rejecting: MessageSerializer {
            struct Bad: Error {}
            func serialize(_ message: String) throws -> [UInt8] { throw Bad() }
        }
        try await withClientAndServer { client, service in
            let error = await #expect(throws: RPCError.self) {
                _ = try await client.unary(
                    request: "x", method: TestMethods.unary, serializer: Rejecting(),
                    deserializer: StringDeserializer())
            }
            #expect(error?.code == .internalError)
            #expect(service.requests.all.isEmpty)
        }
    }

    @Test func responseOverTheReceiveLimitIsResourceExhausted() async throws {
        try await withClientAndServer { client, _ in
            let error = await #expect(throws: RPCError.self) {
                _ = try await client.unaryString(
                    String(repeating: "x", count: 100), options: CallOptions(maxReceiveMessageBytes: 10))
            }
            #expect(error?.code == .resourceExhausted)
        }
    }
}
