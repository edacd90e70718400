import Testing

import BreakwaterCore
@testable import BreakwaterWire

@Suite("GRPCHeaders: request headers")
struct GRPCRequestHeadersTests {
    let now = ContinuousClock.now

    @Test("pseudo-headers come first, then te, content-type and the rest")
    func basics() {
        let fields = GRPCHeaders.requestHeaders(
            for: ClientRequestHead(method: echoGet),
            authority: "example.com:443",
            scheme: "https",
            userAgent: "breakwater/0.1",
            now: now
        )
        #expect(values(fields, ":method") == ["POST"])
        #expect(values(fields, ":scheme") == ["https"])
        #expect(values(fields, ":path") == ["/echo.Echo/Get"])
        #expect(values(fields, ":authority") == ["example.com:443"])
        #expect(values(fields, "te") == ["trailers"])
        #expect(values(fields, "content-type") == ["application/grpc"])
        #expect(values(fields, "user-agent") == ["breakwater/0.1"])
        #expect(values(fields, "grpc-accept-encoding") == ["identity,gzip"])
        #expect(values(fields, "grpc-timeout").isEmpty)
        #expect(values(fields, "grpc-encoding").isEmpty)
        // RFC 9113 8.3: all pseudo-headers precede regular fields.
        let firstRegular = fields.firstIndex { !$0.name.hasPrefix(":") } ?? fields.count
        #expect(fields[firstRegular...].allSatisfy { !$0.name.hasPrefix(":") })
        #expect(firstRegular == 4)
        // Every name lower-case.
        #expect(fields.allSatisfy { $0.name == $0.name.lowercased() })
    }

    @Test("grpc-timeout carries the remaining time when there is a deadline")
    func timeout() {
        let head = ClientRequestHead(method: echoGet, deadline: now.advanced(by: .milliseconds(250)))
        let fields = GRPCHeaders.requestHeaders(for: head, authority: "a", scheme: "http", userAgent: "u", now: now)
        #expect(values(fields, "grpc-timeout") == ["250000u"])
        let past = ClientRequestHead(method: echoGet, deadline: now.advanced(by: .seconds(-1)))
        let expired = GRPCHeaders.requestHeaders(for: past, authority: "a", scheme: "http", userAgent: "u", now: now)
        #expect(values(expired, "grpc-timeout") == ["0n"])
    }

    @Test("grpc-encoding only when compressing")
    func encoding() {
        let gz = ClientRequestHead(method: echoGet, compression: .gzip)
        let fields = GRPCHeaders.requestHeaders(for: gz, authority: "a", scheme: "http", userAgent: "u", now: now)
        #expect(values(fields, "grpc-encoding") == ["gzip"])
        let id = ClientRequestHead(method: echoGet, compression: .identity)
        let plain = GRPCHeaders.requestHeaders(for: id, authority: "a", scheme: "http", userAgent: "u", now: now)
        #expect(values(plain, "grpc-encoding").isEmpty)
    }

    @Test("metadata: strings as is, -bin base64 unpadded, repeated keys kept in order")
    func metadata() {
        var md = Metadata()
        md.addString("v1", forKey: "X-Custom")
        md.addString("v2", forKey: "x-custom")
        md.addBinary([0xFF, 0x00, 0xFE, 0x01], forKey: "x-trace-bin")
        md.addBinary([], forKey: "x-empty-bin")
        let fields = GRPCHeaders.requestHeaders(
            for: ClientRequestHead(method: echoGet, metadata: md), authority: "a", scheme: "http", userAgent: "u", now: now)
        #expect(values(fields, "x-custom") == ["v1", "v2"])
        #expect(values(fields, "x-trace-bin") == ["/wD+AQ"])
        #expect(values(fields, "x-empty-bin") == [""])
    }

    @Test("reserved keys in metadata are dropped")
    func reservedDropped() {
        var md = Metadata()
        for key in [
            ":path", ":authority", "content-type", "te", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding",
            "grpc-status", "grpc-message", "content-length", "connection", "host", "keep-alive", "proxy-connection",
            "transfer-encoding", "upgrade",
        ] {
            md.addString("evil", forKey: key)
        }
        md.addString("kept", forKey: "x-ok")
        let fields = GRPCHeaders.requestHeaders(
            for: ClientRequestHead(method: echoGet, metadata: md), authority: "a", scheme: "http", userAgent: "u", now: now)
        #expect(!fields.contains { $0.value == "evil" })
        #expect(values(fields, "x-ok") == ["kept"])
        #expect(values(fields, ":path") == ["/echo.Echo/Get"])
        #expect(values(fields, "content-type") == ["application/grpc"])
    }
}

@Suite("GRPCHeaders: parseRequest")
struct GRPCParseRequestTests {
    let now = ContinuousClock.now

    @Test("a minimal request")
    func minimal() throws {
        let h = try head(GRPCHeaders.parseRequest(request(), peer: "ipv4:127.0.0.1:5", now: now))
        #expect(h.path == "/echo.Echo/Get")
        #expect(h.peer == "ipv4:127.0.0.1:5")
        #expect(h.deadline == nil)
        #expect(h.requestEncoding == .identity)
        #expect(h.responseEncoding == .identity)
        // Pseudo-headers, te and content-type are not metadata.
        #expect(h.metadata.isEmpty)
    }

    @Test("405 for anything but POST", arguments: ["GET", "PUT", "HEAD", "post"])
    func methodNotAllowed(method: String) {
        guard case .http(status: 405, _)? = rejection(GRPCHeaders.parseRequest(request(method: method), peer: "", now: now))
        else {
            Issue.record("expected 405 for \(method)")
            return
        }
    }

    @Test("405 when :method is missing")
    func missingMethod() {
        let fields = request().filter { $0.name != ":method" }
        guard case .http(status: 405, _)? = rejection(GRPCHeaders.parseRequest(fields, peer: "", now: now)) else {
            Issue.record("expected 405")
            return
        }
    }

    @Test(
        "415 for a wrong or missing content-type",
        arguments: [nil, "application/json", "text/plain", "application/grpc-web", "application/grpcx", "application/grp", ""]
    )
    func unsupportedMediaType(contentType: String?) {
        guard
            case .http(status: 415, _)? = rejection(
                GRPCHeaders.parseRequest(request(contentType: contentType), peer: "", now: now))
        else {
            Issue.record("expected 415 for \(contentType ?? "nil")")
            return
        }
    }

    @Test(
        "gRPC content-types are accepted",
        arguments: ["application/grpc", "application/grpc+proto", "application/grpc+json", "application/grpc;charset=utf-8", "Application/GRPC"]
    )
    func acceptedContentTypes(contentType: String) throws {
        _ = try head(GRPCHeaders.parseRequest(request(contentType: contentType), peer: "", now: now))
    }

    @Test("the deadline is computed from now and grpc-timeout", arguments: [("5S", Duration.seconds(5)), ("250m", .milliseconds(250)), ("1H", .seconds(3600)), ("1n", .nanoseconds(1))])
    func deadline(timeout: String, duration: Duration) throws {
        let h = try head(GRPCHeaders.parseRequest(request([("grpc-timeout", timeout)]), peer: "", now: now))
        #expect(h.deadline == now.advanced(by: duration))
    }

    @Test("a zero grpc-timeout is DEADLINE_EXCEEDED before any handler runs", arguments: ["0n", "0S", "00000000H"])
    func zeroTimeout(timeout: String) {
        guard case .grpc(let status)? = rejection(GRPCHeaders.parseRequest(request([("grpc-timeout", timeout)]), peer: "", now: now))
        else {
            Issue.record("expected DEADLINE_EXCEEDED for grpc-timeout '\(timeout)'")
            return
        }
        #expect(status.code == .deadlineExceeded)
    }

    @Test("a malformed grpc-timeout is rejected with a gRPC status", arguments: ["", "5", "5s", "123456789S", "-1S", "soon"])
    func malformedTimeout(timeout: String) {
        guard case .grpc(let status)? = rejection(GRPCHeaders.parseRequest(request([("grpc-timeout", timeout)]), peer: "", now: now))
        else {
            Issue.record("expected a gRPC rejection for grpc-timeout '\(timeout)'")
            return
        }
        #expect(status.code != .ok)
    }

    @Test("an unknown grpc-encoding is UNIMPLEMENTED", arguments: ["br", "deflate", "snappy", "GZIP", ""])
    func unknownEncoding(encoding: String) {
        guard case .grpc(let status)? = rejection(GRPCHeaders.parseRequest(request([("grpc-encoding", encoding)]), peer: "", now: now))
        else {
            Issue.record("expected UNIMPLEMENTED for grpc-encoding '\(encoding)'")
            return
        }
        #expect(status.code == .unimplemented)
    }

    @Test("gzip negotiation")
    func gzipNegotiation() throws {
        // gzip request from a client that accepts gzip: respond with gzip.
        var h = try head(GRPCHeaders.parseRequest(request([("grpc-encoding", "gzip"), ("grpc-accept-encoding", "identity, gzip")]), peer: "", now: now))
        #expect(h.requestEncoding == .gzip)
        #expect(h.responseEncoding == .gzip)
        h = try head(GRPCHeaders.parseRequest(request([("grpc-encoding", "gzip"), ("grpc-accept-encoding", "gzip")]), peer: "", now: now))
        #expect(h.responseEncoding == .gzip)
        // gzip request, but the client does not accept gzip responses: identity.
        h = try head(GRPCHeaders.parseRequest(request([("grpc-encoding", "gzip"), ("grpc-accept-encoding", "identity")]), peer: "", now: now))
        #expect(h.requestEncoding == .gzip)
        #expect(h.responseEncoding == .identity)
        h = try head(GRPCHeaders.parseRequest(request([("grpc-encoding", "gzip")]), peer: "", now: now))
        #expect(h.responseEncoding == .identity)
        // Explicit identity.
        h = try head(GRPCHeaders.parseRequest(request([("grpc-encoding", "identity"), ("grpc-accept-encoding", "identity,gzip")]), peer: "", now: now))
        #expect(h.requestEncoding == .identity)
        #expect(h.responseEncoding == .identity)
    }

    @Test("custom metadata is kept, -bin decoded, reserved names dropped")
    func metadata() throws {
        let h = try head(
            GRPCHeaders.parseRequest(
                request([
                    ("x-a", "1"), ("x-b-bin", "AQID"), ("x-c-bin", "AQI="), ("x-a", "2"),
                    ("grpc-timeout", "1S"), ("grpc-accept-encoding", "gzip"), ("user-agent", "grpc-python/1.85"),
                ]),
                peer: "", now: now))
        #expect(h.metadata[stringValues: "x-a"] == ["1", "2"])
        #expect(h.metadata[binaryValues: "x-b-bin"] == [[1, 2, 3]])
        #expect(h.metadata[binaryValues: "x-c-bin"] == [[1, 2]])
        #expect(h.metadata["grpc-timeout"].isEmpty)
        #expect(h.metadata["te"].isEmpty)
        #expect(h.metadata["content-type"].isEmpty)
        #expect(h.metadata[":path"].isEmpty)
        #expect(h.metadata.firstString(forKey: "user-agent") == "grpc-python/1.85")
    }

    @Test("a -bin value that is not base64 is INTERNAL, naming the key, on requests and responses")
    func malformedBinaryMetadata() {
        guard case .grpc(let status)? = rejection(GRPCHeaders.parseRequest(request([("x-bad-bin", "!!!")]), peer: "", now: now))
        else {
            Issue.record("expected a gRPC rejection")
            return
        }
        #expect(status.code == .internalError)
        #expect(status.message.contains("x-bad-bin"))
        guard case .end(let headersStatus, _) = GRPCHeaders.parseResponseHeaders(
            [(":status", "200"), ("content-type", "application/grpc"), ("x-bad-bin", "@@")])
        else {
            Issue.record("expected the response headers to end the call")
            return
        }
        #expect(headersStatus.code == .internalError)
        let (trailersStatus, trailers) = GRPCHeaders.parseTrailers([("grpc-status", "0"), ("x-bad-bin", "@@")])
        #expect(trailersStatus.code == .internalError)
        #expect(trailers.isEmpty)
    }

    @Test("error messages quote at most 64 bytes of what the peer sent")
    func errorMessagesAreBounded() {
        let huge = String(repeating: "z", count: 10_000)
        guard case .http(415, let message)? = rejection(GRPCHeaders.parseRequest(request(contentType: huge), peer: "", now: now))
        else {
            Issue.record("expected 415")
            return
        }
        #expect(message.utf8.count < 200)
        #expect(message.contains("10000 bytes"))
        guard case .grpc(let status)? = rejection(GRPCHeaders.parseRequest(request([("grpc-timeout", huge)]), peer: "", now: now))
        else {
            Issue.record("expected a gRPC rejection")
            return
        }
        #expect(status.message.utf8.count < 200)
    }

    @Test("request headers built by the client parse back on the server")
    func clientToServer() throws {
        var md = Metadata()
        md.addString("hello", forKey: "x-echo-greeting")
        md.addBinary([0, 1, 2, 250], forKey: "x-echo-blob-bin")
        let deadline = now.advanced(by: .seconds(3))
        let fields = GRPCHeaders.requestHeaders(
            for: ClientRequestHead(method: echoGet, metadata: md, deadline: deadline, compression: .gzip),
            authority: "localhost", scheme: "http", userAgent: "ua", now: now)
        let h = try head(GRPCHeaders.parseRequest(fields, peer: "p", now: now))
        #expect(h.path == "/echo.Echo/Get")
        #expect(h.deadline == deadline)
        #expect(h.requestEncoding == .gzip)
        #expect(h.responseEncoding == .gzip)
        #expect(h.metadata[stringValues: "x-echo-greeting"] == ["hello"])
        #expect(h.metadata[binaryValues: "x-echo-blob-bin"] == [[0, 1, 2, 250]])
    }
}
