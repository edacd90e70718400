import Testing

import BreakwaterCore
@testable import BreakwaterWire

private let echoGet = MethodDescriptor(service: "echo.Echo", method: "Get")

private func values(_ fields: [HeaderField], _ name: String) -> [String] {
    fields.filter { $0.name == name }.map(\.value)
}

private func names(_ fields: [HeaderField]) -> [String] { fields.map(\.name) }

/// A well-formed request header block, with `extra` appended.
private func request(_ extra: [HeaderField] = [], method: String = "POST", contentType: String? = "application/grpc")
    -> [HeaderField]
{
    var fields: [HeaderField] = [
        (":method", method), (":scheme", "http"), (":path", "/echo.Echo/Get"), (":authority", "localhost:1234"),
        ("te", "trailers"),
    ]
    if let contentType { fields.append(("content-type", contentType)) }
    return fields + extra
}

private func rejection(_ result: Result<ServerRequestHead, GRPCHeaders.RequestRejection>)
    -> GRPCHeaders.RequestRejection?
{
    if case .failure(let r) = result { r } else { nil }
}

private func head(_ result: Result<ServerRequestHead, GRPCHeaders.RequestRejection>) throws -> ServerRequestHead {
    switch result {
    case .success(let h): return h
    case .failure(let r):
        Issue.record("rejected: \(r)")
        throw r
    }
}

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

@Suite("GRPCHeaders: responses")
struct GRPCResponseTests {
    @Test("response headers parse back as headers")
    func headersRoundTrip() {
        var md = Metadata()
        md.addString("v", forKey: "x-k")
        let fields = GRPCHeaders.responseHeaders(metadata: md, encoding: .gzip)
        #expect(fields.first?.name == ":status")
        #expect(values(fields, ":status") == ["200"])
        #expect(values(fields, "grpc-encoding") == ["gzip"])
        guard case .headers(let got, let encoding) = GRPCHeaders.parseResponseHeaders(fields) else {
            Issue.record("expected headers")
            return
        }
        #expect(encoding == .gzip)
        #expect(got[stringValues: "x-k"] == ["v"])
        #expect(values(GRPCHeaders.responseHeaders(metadata: [:], encoding: .identity), "grpc-encoding").isEmpty)
    }

    @Test("trailers-only: one block with :status, content-type and grpc-status")
    func trailersOnly() {
        var md = Metadata()
        md.addBinary([9, 8, 7], forKey: "x-detail-bin")
        let fields = GRPCHeaders.trailers(
            status: Status(code: .notFound, message: "no 100% match\n"), metadata: md, trailersOnly: true)
        #expect(values(fields, ":status") == ["200"])
        #expect(values(fields, "content-type") == ["application/grpc"])
        #expect(values(fields, "grpc-status") == ["5"])
        #expect(values(fields, "grpc-message") == ["no 100%25 match%0A"])
        guard case .end(let status, let got) = GRPCHeaders.parseResponseHeaders(fields) else {
            Issue.record("expected the end of the call")
            return
        }
        #expect(status == Status(code: .notFound, message: "no 100% match\n"))
        #expect(got[binaryValues: "x-detail-bin"] == [[9, 8, 7]])
    }

    @Test("a trailers-only OK still ends the call")
    func trailersOnlyOK() {
        let fields = GRPCHeaders.trailers(status: .ok, metadata: [:], trailersOnly: true)
        #expect(values(fields, "grpc-message").isEmpty)
        guard case .end(let status, _) = GRPCHeaders.parseResponseHeaders(fields) else {
            Issue.record("expected the end of the call")
            return
        }
        #expect(status == .ok)
    }

    @Test(
        "a non-200 response without grpc-status gets a synthesized status",
        arguments: [("404", Status.Code.unimplemented), ("503", .unavailable), ("401", .unauthenticated), ("500", .unknown), ("400", .internalError)]
    )
    func non200(httpStatus: String, code: Status.Code) {
        guard case .end(let status, _) = GRPCHeaders.parseResponseHeaders([(":status", httpStatus), ("content-type", "text/html")])
        else {
            Issue.record("expected the end of the call")
            return
        }
        #expect(status.code == code)
    }

    @Test("a non-200 response with grpc-status uses the grpc-status")
    func non200WithGRPCStatus() {
        guard case .end(let status, _) = GRPCHeaders.parseResponseHeaders([(":status", "503"), ("grpc-status", "8"), ("grpc-message", "slow%20down")])
        else {
            Issue.record("expected the end of the call")
            return
        }
        #expect(status == Status(code: .resourceExhausted, message: "slow down"))
    }

    @Test("a 200 response with a wrong or missing content-type ends the call", arguments: [nil, "text/html", "application/json"])
    func wrongContentType(contentType: String?) {
        var fields: [HeaderField] = [(":status", "200")]
        if let contentType { fields.append(("content-type", contentType)) }
        guard case .end(let status, _) = GRPCHeaders.parseResponseHeaders(fields) else {
            Issue.record("expected the end of the call")
            return
        }
        #expect(status.code == .unknown)
    }

    @Test("a response without :status ends the call with INTERNAL")
    func missingStatus() {
        guard case .end(let status, _) = GRPCHeaders.parseResponseHeaders([("content-type", "application/grpc")]) else {
            Issue.record("expected the end of the call")
            return
        }
        #expect(status.code == .internalError)
        guard case .end(let status2, _) = GRPCHeaders.parseResponseHeaders([(":status", "two hundred"), ("content-type", "application/grpc")])
        else {
            Issue.record("expected the end of the call")
            return
        }
        #expect(status2.code == .internalError)
    }

    @Test("an unsupported response grpc-encoding ends the call with INTERNAL")
    func unsupportedResponseEncoding() {
        guard case .end(let status, _) = GRPCHeaders.parseResponseHeaders([(":status", "200"), ("content-type", "application/grpc"), ("grpc-encoding", "br")])
        else {
            Issue.record("expected the end of the call")
            return
        }
        #expect(status.code == .internalError)
    }

    @Test("trailers with grpc-status and a percent-encoded message")
    func trailers() {
        var md = Metadata()
        md.addString("t", forKey: "x-trailer-a")
        let sent = Status(code: .invalidArgument, message: "héllo ☃ 50%")
        let fields = GRPCHeaders.trailers(status: sent, metadata: md, trailersOnly: false)
        #expect(values(fields, ":status").isEmpty)
        #expect(values(fields, "content-type").isEmpty)
        #expect(values(fields, "grpc-message") == ["h%C3%A9llo %E2%98%83 50%25"])
        let (status, got) = GRPCHeaders.parseTrailers(fields)
        #expect(status == sent)
        #expect(got[stringValues: "x-trailer-a"] == ["t"])
        #expect(got["grpc-status"].isEmpty)
        #expect(got["grpc-message"].isEmpty)
    }

    @Test("every code survives trailers and parseTrailers")
    func everyCode() {
        for code in Status.Code.allCases {
            let (status, _) = GRPCHeaders.parseTrailers(GRPCHeaders.trailers(status: Status(code: code, message: "m"), metadata: [:], trailersOnly: false))
            #expect(status == Status(code: code, message: "m"))
        }
    }

    @Test("lower-case percent escapes from other implementations decode")
    func lowercaseMessage() {
        let (status, _) = GRPCHeaders.parseTrailers([("grpc-status", "2"), ("grpc-message", "caf%c3%a9")])
        #expect(status == Status(code: .unknown, message: "café"))
    }

    @Test("trailers without grpc-status are UNKNOWN")
    func missingGRPCStatus() {
        let (status, md) = GRPCHeaders.parseTrailers([("x-k", "v")])
        #expect(status.code == .unknown)
        #expect(md[stringValues: "x-k"] == ["v"])
    }

    @Test("an unknown or malformed grpc-status number is UNKNOWN, keeping the message", arguments: ["17", "99", "-1", "abc", "", "1.0"])
    func unknownCode(value: String) {
        let (status, _) = GRPCHeaders.parseTrailers([("grpc-status", value), ("grpc-message", "boom")])
        #expect(status == Status(code: .unknown, message: "boom"))
        let (bare, _) = GRPCHeaders.parseTrailers([("grpc-status", value)])
        #expect(bare.code == .unknown)
        #expect(!bare.message.isEmpty)
    }

    @Test("OK with no message")
    func ok() {
        let (status, md) = GRPCHeaders.parseTrailers([("grpc-status", "0")])
        #expect(status == .ok)
        #expect(md.isEmpty)
    }
}

@Suite("GRPCHeaders: reserved names")
struct GRPCReservedTests {
    @Test("reserved and custom names")
    func reserved() {
        for name in [":status", ":path", "content-type", "te", "grpc-timeout", "grpc-status", "grpc-message", "grpc-encoding", "grpc-accept-encoding", "connection", "host"] {
            #expect(GRPCHeaders.isReserved(name), "\(name)")
        }
        for name in ["x-echo-a", "user-agent", "authorization", "x-trace-bin"] {
            #expect(!GRPCHeaders.isReserved(name), "\(name)")
        }
    }

    /// Found by the request-headers fuzz target: Metadata lower-cases its keys, so a name in another
    /// case (HTTP/2 forbids them, but the function takes any field) came out as a reserved entry, or as a
    /// string under a `-bin` key.
    @Test("names in other cases are judged lower-cased")
    func otherCases() throws {
        let metadata = try GRPCHeaders.metadata(from: [
            ("Content-Type", "text/plain"), ("Grpc-Status", "0"), ("TE", "trailers"), ("\u{212A}eep-alive", "1"),
            ("X-Trace-Bin", "AQID"), ("X-Echo-A", "a"),
        ])
        #expect(metadata.map(\.key) == ["x-trace-bin", "x-echo-a"])
        #expect(metadata[binaryValues: "x-trace-bin"] == [[1, 2, 3]])
        #expect(metadata[stringValues: "x-echo-a"] == ["a"])
        // An invalid -bin value is judged under its lower-cased key too.
        #expect(throws: RPCError.self) { _ = try GRPCHeaders.metadata(from: [("X-Bad-Bin", "!!")]) }
    }
}
