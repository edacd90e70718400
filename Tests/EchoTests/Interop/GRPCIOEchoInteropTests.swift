import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterProtobuf
import BreakwaterTestSupport
import EchoService
import Testing

/// Interop with grpcio (PyPI), both directions, over plaintext HTTP/2 on loopback. Not skipped when grpcio
/// is missing: `scripts/bootstrap.sh` (run by `scripts/test.sh` and `.ci/run`) installs it.
@Suite("Interop with grpcio", .timeLimit(.minutes(TestTime.minutes(2))))
struct GRPCIOEchoInteropTests {
    /// grpcio's client runs its checklist (Tests/Interop/grpcio_echo_client.py) against our echo server.
    @Test func grpcioClientAgainstOurServer() async throws {
        let live = try await LiveEchoServer.start()
        let (status, output) = try await PythonPeer.run("grpcio_echo_client.py", ["--port", String(live.port)])
        await live.stop()
        #expect(status == 0, "\(output)")
        #expect(output.contains(" passed, 0 failed"), "\(output)")
        for check in ["get", "expand", "collect", "update-interleaved", "metadata-unary", "metadata-streaming",
                      "deadline-exceeded", "large-message-1mib", "unknown-method", "unknown-service", "gzip"] {
            #expect(output.contains("ok \(check)\n"), "check \(check) did not pass:\n\(output)")
        }
    }

    /// Our client against grpcio's echo server (Tests/Interop/grpcio_echo_server.py).
    @Test func ourClientAgainstGrpcioServer() async throws {
        let peer = try await PythonPeer.Server()
        let grpc = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: peer.port))
        let echo = Echo_EchoClient(wrapping: grpc)
        do {
            try await Self.checklist(echo)
        } catch {
            Issue.record("against grpcio: \(error)")
        }
        await grpc.close()
        await peer.stop()
    }

    /// grpcio sends a stream's headers only with its first response (its echo server sends none early
    /// without metadata to echo): the call returns before them, and a request written after it returned
    /// is answered.
    @Test func ourBidiCallReturnsBeforeGrpcioSendsHeaders() async throws {
        let peer = try await PythonPeer.Server()
        let grpc = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: peer.port))
        let echo = Echo_EchoClient(wrapping: grpc)
        do {
            let (requests, input) = AsyncStream.makeStream(of: Echo_EchoRequest.self)
            // A deadline beyond the suite's time limit: a call that waited for headers fails by that limit.
            let echoes = try await echo.update(requests, options: CallOptions(timeout: .seconds(200)))
            input.yield(request("after the call returned"))
            var iterator = echoes.makeAsyncIterator()
            #expect(try await iterator.next()?.text == "after the call returned")
            input.finish()
            #expect(try await iterator.next() == nil)
        } catch {
            Issue.record("against grpcio: \(error)")
        }
        await grpc.close()
        await peer.stop()
    }

    static func checklist(_ echo: Echo_EchoClient) async throws {
        // All four methods.
        #expect(try await echo.get(request("hello grpcio")).text == "hello grpcio")
        var words: [String] = []
        for try await r in try await echo.expand(request("a b c")) { words.append(r.text) }
        #expect(words == ["a", "b", "c"])
        let joined = try await echo.collect { writer in
            for w in ["x", "y", "z"] { try await writer.write(request(w)) }
        }
        #expect(joined.text == "x y z")
        // Update in lock step: each echo arrives before the next request is written.
        let (requests, continuation) = AsyncStream.makeStream(of: Echo_EchoRequest.self)
        continuation.yield(request("u0"))
        var echoed: [String] = []
        for try await r in try await echo.update(requests) {
            echoed.append(r.text)
            if echoed.count == 4 { continuation.finish() } else { continuation.yield(request("u\(echoed.count)")) }
        }
        #expect(echoed == ["u0", "u1", "u2", "u3"])

        // Metadata, ASCII and binary, back in headers and trailers.
        var metadata = Metadata()
        metadata.addString("from-breakwater", forKey: "x-echo-ascii")
        let blob: [UInt8] = [0, 255, 1, 254, 10]
        metadata.addBinary(blob, forKey: "x-echo-blob-bin")
        let withMetadata = try await echo.getWithMetadata(request("m"), metadata: metadata)
        #expect(withMetadata.metadata[stringValues: "x-echo-ascii"] == ["from-breakwater"])
        #expect(withMetadata.metadata[binaryValues: "x-echo-blob-bin"] == [blob])
        #expect(withMetadata.trailers[stringValues: "x-trailer-ascii"] == ["from-breakwater"])
        #expect(withMetadata.trailers[binaryValues: "x-trailer-blob-bin"] == [blob])

        // A deadline: the server sleeps 2 s, the call allows 200 ms.
        let late = await rpcErrorCode {
            _ = try await echo.get(request("sleep:2000"), options: CallOptions(timeout: .milliseconds(200)))
        }
        #expect(late == .deadlineExceeded)

        // A 1 MiB message both ways, and gzip.
        let big = String(repeating: "abcdefgh", count: 128 * 1024)
        #expect(try await echo.get(request(big)).text == big)
        #expect(try await echo.get(request(big), options: CallOptions(compression: .gzip)).text == big)

        // Unknown method and unknown service.
        for method in [MethodDescriptor(service: "echo.Echo", method: "Nope"), MethodDescriptor(service: "echo.Nope", method: "Get")] {
            let code = await rpcErrorCode {
                _ = try await echo.client.unary(
                    request: request("x"), method: method,
                    serializer: ProtobufSerializer<Echo_EchoRequest>(),
                    deserializer: ProtobufDeserializer<Echo_EchoResponse>()
                )
            }
            #expect(code == .unimplemented, "\(method)")
        }
    }
}
