import Testing

import BreakwaterCore
@testable import BreakwaterWire

@Suite("StatusMapping")
struct StatusMappingTests {
    @Test(
        "HTTP status to gRPC code (doc/http-grpc-status-mapping.md)",
        arguments: [
            (400, Status.Code.internalError),
            (401, .unauthenticated),
            (403, .permissionDenied),
            (404, .unimplemented),
            (429, .unavailable),
            (502, .unavailable),
            (503, .unavailable),
            (504, .unavailable),
            // Anything else is UNKNOWN.
            (500, .unknown),
            (405, .unknown),
            (415, .unknown),
            (418, .unknown),
            (301, .unknown),
            (100, .unknown),
            (200, .unknown),
            (0, .unknown),
        ]
    )
    func http(status: Int, code: Status.Code) {
        let s = StatusMapping.status(forHTTPStatus: status)
        #expect(s.code == code)
        #expect(s.message.contains("\(status)"))
    }

    @Test(
        "RST_STREAM error code to gRPC code",
        arguments: [
            (UInt32(0x0), Status.Code.internalError),  // NO_ERROR
            (0x1, .internalError),  // PROTOCOL_ERROR
            (0x2, .internalError),  // INTERNAL_ERROR
            (0x3, .internalError),  // FLOW_CONTROL_ERROR
            (0x4, .internalError),  // SETTINGS_TIMEOUT
            (0x5, .internalError),  // STREAM_CLOSED
            (0x6, .internalError),  // FRAME_SIZE_ERROR
            (0x7, .unavailable),  // REFUSED_STREAM
            (0x8, .cancelled),  // CANCEL
            (0x9, .internalError),  // COMPRESSION_ERROR
            (0xA, .internalError),  // CONNECT_ERROR
            (0xB, .resourceExhausted),  // ENHANCE_YOUR_CALM
            (0xC, .permissionDenied),  // INADEQUATE_SECURITY
            (0xD, .internalError),  // HTTP_1_1_REQUIRED
            (0xE, .internalError),  // unknown
            (0xFFFF_FFFF, .internalError),  // unknown
        ]
    )
    func rstStream(errorCode: UInt32, code: Status.Code) {
        let s = StatusMapping.status(forRSTStreamCode: errorCode)
        #expect(s.code == code)
        #expect(!s.message.isEmpty)
    }

    @Test("an unknown RST_STREAM code is named in hex in the message")
    func rstStreamUnknownMessage() {
        #expect(StatusMapping.status(forRSTStreamCode: 0x1F).message.contains("0x1f"))
    }

    @Test("HTTP2ErrorCode raw values match RFC 9113")
    func http2Codes() {
        #expect(StatusMapping.HTTP2ErrorCode.refusedStream.rawValue == 7)
        #expect(StatusMapping.HTTP2ErrorCode.cancel.rawValue == 8)
        #expect(StatusMapping.HTTP2ErrorCode.enhanceYourCalm.rawValue == 0xB)
        #expect(StatusMapping.HTTP2ErrorCode.inadequateSecurity.rawValue == 0xC)
        #expect(StatusMapping.HTTP2ErrorCode.http11Required.rawValue == 0xD)
    }
}

@Suite("Status.Code")
struct StatusCodeTests {
    static let canonical: [(Int, String)] = [
        (0, "OK"), (1, "CANCELLED"), (2, "UNKNOWN"), (3, "INVALID_ARGUMENT"), (4, "DEADLINE_EXCEEDED"),
        (5, "NOT_FOUND"), (6, "ALREADY_EXISTS"), (7, "PERMISSION_DENIED"), (8, "RESOURCE_EXHAUSTED"),
        (9, "FAILED_PRECONDITION"), (10, "ABORTED"), (11, "OUT_OF_RANGE"), (12, "UNIMPLEMENTED"),
        (13, "INTERNAL"), (14, "UNAVAILABLE"), (15, "DATA_LOSS"), (16, "UNAUTHENTICATED"),
    ]

    @Test("all 17 codes: number, canonical name and name round trip")
    func names() throws {
        #expect(Status.Code.allCases.count == 17)
        for (number, name) in Self.canonical {
            let code = try #require(Status.Code(rawValue: number))
            #expect(code.name == name)
            #expect(code.description == name)
            #expect(Status.Code(name: name) == code)
        }
        #expect(Status.Code(rawValue: 17) == nil)
        #expect(Status.Code(rawValue: -1) == nil)
        #expect(Status.Code(name: "unavailable") == nil)
        #expect(Status.Code(name: "") == nil)
        #expect(Status.Code(name: "INTERNAL_ERROR") == nil)
    }

    @Test("Status description and RPCError never OK")
    func descriptions() {
        #expect(Status(code: .ok).description == "OK")
        #expect(Status(code: .notFound, message: "no such key").description == "NOT_FOUND: no such key")
        #expect(RPCError(code: .ok, message: "x").code == .unknown)
        #expect(RPCError(status: Status(code: .aborted, message: "m")).status == Status(code: .aborted, message: "m"))
    }
}
