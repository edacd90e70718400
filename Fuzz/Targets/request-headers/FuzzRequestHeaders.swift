// GRPCHeaders.parseRequest, the server's reading of a request header block.
//
// Input byte 0 picks the mode.
// - Even: the rest is a header block in text form (`name: value` lines, see FuzzSupport). Checked:
//   the verdict follows the last :method, content-type, :path, grpc-timeout and grpc-encoding as
//   PROTOCOL-HTTP2 says (405, 415, UNIMPLEMENTED, INTERNAL); an accepted request's deadline is now
//   plus the decoded grpc-timeout; its metadata holds no reserved name, `-bin` entries are binary
//   and every other entry is a string, in field order.
// - Odd: a ClientRequestHead built from the rest goes through `requestHeaders` and back through
//   `parseRequest`: path, metadata (user-agent merged as documented), encodings round-trip, and the
//   deadline comes back never earlier than sent and at most one grpc-timeout unit later.
import BreakwaterCore
import BreakwaterWire
import FuzzSupport

private let now = ContinuousClock.now

private func lastValue(_ fields: [HeaderField], _ name: String) -> String? {
    fields.last(where: { $0.name == name })?.value
}

private func checkMetadata(_ metadata: Metadata, from fields: [HeaderField]) {
    var expectedCount = 0
    for (name, value) in fields where !GRPCHeaders.isReserved(name) {
        let key = name.lowercased()
        if key.hasSuffix("-bin") {
            if Base64.decode(value) != nil { expectedCount += 1 }
        } else {
            expectedCount += 1
        }
    }
    for element in metadata {
        check(!GRPCHeaders.isReserved(element.key), "reserved name '\(element.key)' in metadata")
        check(element.key == element.key.lowercased(), "metadata key '\(element.key)' not lower-case")
        switch element.value {
        case .binary: check(element.key.hasSuffix("-bin"), "binary value for '\(element.key)'")
        case .string: check(!element.key.hasSuffix("-bin"), "string value for '\(element.key)'")
        }
    }
    check(metadata.count <= expectedCount, "\(metadata.count) metadata entries from \(expectedCount) custom fields")
}

private func parseText(_ bytes: [UInt8]) {
    let fields = headerFields(fromText: bytes)
    let peer = "ipv4:127.0.0.1:1"
    let result = GRPCHeaders.parseRequest(fields, peer: peer, now: now)
    let method = lastValue(fields, ":method")
    let contentType = lastValue(fields, "content-type")
    let path = lastValue(fields, ":path")
    let timeout = lastValue(fields, "grpc-timeout")
    let encoding = lastValue(fields, "grpc-encoding")

    switch result {
    case .failure(.http(let status, let message)):
        if method != "POST" {
            check(status == 405, "HTTP \(status) for method \(method ?? "nil")")
        } else {
            check(status == 415, "HTTP \(status) for content-type \(contentType ?? "nil")")
            check(contentType.map(GRPCHeaders.isGRPCContentType) != true, "415 for a gRPC content-type")
        }
        check(!message.isEmpty, "empty HTTP rejection message")
    case .failure(.grpc(let status)):
        check(method == "POST", "gRPC rejection of method \(method ?? "nil")")
        check(contentType.map(GRPCHeaders.isGRPCContentType) == true, "gRPC rejection before content-type")
        switch status.code {
        case .unimplemented:
            let badPath = path == nil || path!.isEmpty
            let badEncoding = encoding != nil && CompressionAlgorithm(rawValue: encoding!) == nil
            check(badPath || badEncoding, "UNIMPLEMENTED without a cause")
        case .internalError:
            let badTimeout = timeout != nil && GRPCTimeout.decode(timeout!) == nil
            check(badTimeout || hasInvalidBinaryMetadata(fields), "INTERNAL with a valid grpc-timeout and metadata")
        case .deadlineExceeded:
            check(timeout.flatMap(GRPCTimeout.decode) == .zero, "DEADLINE_EXCEEDED without a zero grpc-timeout")
        default:
            check(false, "unexpected rejection \(status)")
        }
        // The status travels in grpc-message: it must survive percent-encoding.
        let wire = PercentEncoding.encode(status.message)
        check(utf8Bytes(PercentEncoding.decode(wire)) == utf8Bytes(status.message), "rejection message round trip")
    case .success(let head):
        check(method == "POST", "accepted method \(method ?? "nil")")
        check(contentType.map(GRPCHeaders.isGRPCContentType) == true, "accepted content-type \(contentType ?? "nil")")
        check(path != nil && !path!.isEmpty && head.path == path!, "path '\(head.path)' vs '\(path ?? "nil")'")
        check(head.peer == peer, "peer")
        if let timeout {
            let duration = GRPCTimeout.decode(timeout)
            check(duration != nil, "accepted malformed grpc-timeout '\(timeout)'")
            check(duration != .zero, "accepted a zero grpc-timeout")
            check(head.deadline == now.advanced(by: duration!), "deadline not now + grpc-timeout")
        } else {
            check(head.deadline == nil, "deadline without grpc-timeout")
        }
        let expectedEncoding = encoding.flatMap(CompressionAlgorithm.init(rawValue:)) ?? .identity
        check(head.requestEncoding == expectedEncoding, "request encoding")
        if head.responseEncoding != .identity {
            check(head.requestEncoding == head.responseEncoding, "response encoding the request does not use")
            check(lastValue(fields, "grpc-accept-encoding")?.contains("gzip") == true, "gzip response not accepted")
        }
        check(!hasInvalidBinaryMetadata(fields), "accepted invalid base64 metadata")
        checkMetadata(head.metadata, from: fields)
    }
}

private func roundTrip(_ reader: inout FuzzReader) {
    let nameAlphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-".utf8)
    func name() -> String {
        let raw = reader.bytes(Int(reader.byte() % 24) + 1)
        return String(decoding: raw.map { nameAlphabet[Int($0) % nameAlphabet.count] }, as: UTF8.self)
    }
    let descriptor = MethodDescriptor(service: name(), method: name())
    let flags = reader.byte()
    var deadline: ContinuousClock.Instant?
    if flags & 1 != 0 {
        // Up to ±2^63 ns around now, scaled so that every grpc-timeout unit is reached.
        let raw = Int64(bitPattern: reader.uint64()) >> Int64(reader.byte() % 64)
        deadline = now.advanced(by: .nanoseconds(raw))
    }
    let compression: CompressionAlgorithm = flags & 2 != 0 ? .gzip : .identity
    let metadata = contractMetadata(&reader, extraKeys: ["user-agent"])
    let head = ClientRequestHead(method: descriptor, metadata: metadata, deadline: deadline, compression: compression)
    let ours = "breakwater-swift/fuzz"
    let fields = GRPCHeaders.requestHeaders(for: head, authority: "localhost:1", scheme: "http", userAgent: ours, now: now)
    for (name, _) in fields {
        check(name == name.lowercased(), "header name '\(name)' not lower-case")
    }
    check(fields.filter { $0.name == "user-agent" }.count == 1, "not exactly one user-agent")

    if let deadline, deadline <= now {
        // Sent as `0n`: the server answers DEADLINE_EXCEEDED without running a handler.
        guard case .failure(.grpc(let status)) = GRPCHeaders.parseRequest(fields, peer: "p", now: now) else {
            return check(false, "a passed deadline was accepted")
        }
        return check(status.code == .deadlineExceeded, "a passed deadline gave \(status)")
    }
    guard case .success(let parsed) = GRPCHeaders.parseRequest(fields, peer: "p", now: now) else {
        check(false, "our own request headers were rejected: \(fields)")
        return
    }
    check(parsed.path == descriptor.path, "path \(parsed.path) vs \(descriptor.path)")
    check(parsed.requestEncoding == compression, "request encoding")
    check(parsed.responseEncoding == compression, "response encoding")

    var expected = Metadata()
    let caller = metadata[stringValues: "user-agent"].first
    expected.addString(caller.map { "\($0) \(ours)" } ?? ours, forKey: "user-agent")
    for element in metadata where element.key != "user-agent" { expected.add(element.value, forKey: element.key) }
    check(parsed.metadata == expected, "metadata \(parsed.metadata) vs \(expected)")

    if let deadline {
        guard let got = parsed.deadline else { return check(false, "deadline lost") }
        let sent = max(deadline, now)
        let wanted = now.duration(to: sent)
        if wanted < .seconds(GRPCTimeout.maxValueForFuzzing * 3600) {
            check(got >= sent, "deadline came back \(sent.duration(to: got)) early")
            // One unit of the 8-digit encoding is at most wanted / 10^5, plus the nanosecond rounding.
            check(got - sent <= wanted / 100_000 + .nanoseconds(1), "deadline \(sent.duration(to: got)) late for \(wanted)")
        }
    } else {
        check(parsed.deadline == nil, "deadline appeared")
    }
}

extension GRPCTimeout {
    /// The 8-digit maximum (`99999999H`), as the header codec documents it.
    static var maxValueForFuzzing: Int64 { 99_999_999 }
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
