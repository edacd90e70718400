import Testing

import BreakwaterCore
@testable import BreakwaterWire

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
