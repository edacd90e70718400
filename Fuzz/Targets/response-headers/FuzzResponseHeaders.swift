// GRPCHeaders.parseResponseHeaders and parseTrailers, the client's reading of a response.
//
// Input byte 0 picks the mode.
// - Even: the rest is a header block in text form (`name: value` lines, see FuzzSupport), read both
//   as a first header block and as trailers. Checked: a `.headers` answer only for :status 200, a
//   gRPC content-type, no grpc-status and a known grpc-encoding; the status is the last grpc-status
//   when it is a known code (UNKNOWN otherwise) with the percent-decoded last grpc-message; metadata
//   never holds a reserved name, `-bin` entries are binary and the rest strings.
// - Odd: a status (any code, any message) and metadata built from the rest go through `trailers`
//   (plain and trailers-only) and `responseHeaders` and come back unchanged.
import BreakwaterCore
import BreakwaterWire
import FuzzSupport

private func lastValue(_ fields: [HeaderField], _ name: String) -> String? {
    fields.last(where: { $0.name == name })?.value
}

private func checkMetadata(_ metadata: Metadata) {
    for element in metadata {
        check(!GRPCHeaders.isReserved(element.key), "reserved name '\(element.key)' in metadata")
        switch element.value {
        case .binary: check(element.key.hasSuffix("-bin"), "binary value for '\(element.key)'")
        case .string: check(!element.key.hasSuffix("-bin"), "string value for '\(element.key)'")
        }
    }
}

private func expectedStatus(_ fields: [HeaderField]) -> Status? {
    guard let raw = lastValue(fields, "grpc-status") else { return nil }
    let message = lastValue(fields, "grpc-message").map(PercentEncoding.decode) ?? ""
    if let n = Int(raw), let code = Status.Code(rawValue: n) { return Status(code: code, message: message) }
    return Status(code: .unknown, message: message.isEmpty ? "invalid grpc-status '\(raw)'" : message)
}

private func same(_ a: Status, _ b: Status) -> Bool {
    // A synthesized message quotes at most 64 bytes of the bad grpc-status.
    if b.message.hasPrefix("invalid grpc-status '") {
        return a.code == b.code && a.message.hasPrefix("invalid grpc-status '") && a.message.utf8.count <= 300
    }
    return a.code == b.code && utf8Bytes(a.message) == utf8Bytes(b.message)
}

private func parseText(_ bytes: [UInt8]) {
    let fields = headerFields(fromText: bytes)
    let expected = expectedStatus(fields)

    let invalidBinary = hasInvalidBinaryMetadata(fields)
    let (status, trailers) = GRPCHeaders.parseTrailers(fields)
    checkMetadata(trailers)
    if invalidBinary {
        check(status.code == .internalError && trailers.isEmpty, "trailers with invalid base64 gave \(status)")
    } else if let expected {
        check(same(status, expected), "trailers status \(status), expected \(expected)")
    } else {
        check(status.code == .unknown, "status \(status) without grpc-status")
    }

    switch GRPCHeaders.parseResponseHeaders(fields) {
    case .headers(let metadata, let encoding):
        check(lastValue(fields, ":status").flatMap { Int($0) } == 200, "headers accepted without :status 200")
        check(!invalidBinary, "headers accepted with invalid base64 metadata")
        check(expected == nil, "headers accepted with grpc-status")
        check(lastValue(fields, "content-type").map(GRPCHeaders.isGRPCContentType) == true, "headers with a bad content-type")
        check(encoding == (lastValue(fields, "grpc-encoding").flatMap(CompressionAlgorithm.init(rawValue:)) ?? .identity), "encoding")
        checkMetadata(metadata)
    case .end(let status, let metadata):
        checkMetadata(metadata)
        // A :status that is not a number reads as none (nghttp2 lets no such response through).
        if invalidBinary, lastValue(fields, ":status") != nil {
            check(status.code == .internalError, "invalid base64 metadata gave \(status)")
        } else if let expected, lastValue(fields, ":status").flatMap({ Int($0) }) != nil {
            check(same(status, expected), "trailers-only status \(status), expected \(expected)")
        } else {
            check(status.code != .ok, "OK synthesized without grpc-status")
        }
    }
}

private func roundTrip(_ reader: inout FuzzReader) {
    let code = Status.Code(rawValue: Int(reader.byte() % 17))!
    let message = String(decoding: reader.shortBytes(), as: UTF8.self)
    let flags = reader.byte()
    let metadata = contractMetadata(&reader)
    let status = Status(code: code, message: message)
    let trailersOnly = flags & 1 != 0

    let fields = GRPCHeaders.trailers(status: status, metadata: metadata, trailersOnly: trailersOnly)
    for (name, value) in fields {
        check(name == name.lowercased(), "header name '\(name)' not lower-case")
        if name == "grpc-message" {
            check(value.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }, "grpc-message not printable ASCII: \(value)")
        }
    }
    let (parsedStatus, parsedMetadata) = GRPCHeaders.parseTrailers(fields)
    check(same(parsedStatus, status), "status \(parsedStatus) came back for \(status)")
    check(parsedMetadata == metadata, "trailers metadata \(parsedMetadata) came back for \(metadata)")
    if trailersOnly {
        guard case .end(let s, let m) = GRPCHeaders.parseResponseHeaders(fields) else {
            return check(false, "trailers-only block read as headers")
        }
        check(same(s, status) && m == metadata, "trailers-only block came back as \(s) \(m)")
    }

    let encoding: CompressionAlgorithm = flags & 2 != 0 ? .gzip : .identity
    let headers = GRPCHeaders.responseHeaders(metadata: metadata, encoding: encoding)
    guard case .headers(let m, let e) = GRPCHeaders.parseResponseHeaders(headers) else {
        return check(false, "our response headers were not read as headers")
    }
    check(m == metadata && e == encoding, "response headers came back as \(m) \(e)")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    var reader = FuzzReader(fuzzBytes(data, count))
    if reader.byte() & 1 == 0 {
        parseText(reader.rest())
    } else {
        roundTrip(&reader)
    }
    return 0
}
