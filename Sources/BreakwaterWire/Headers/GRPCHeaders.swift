import BreakwaterCore
/// An HTTP/2 header field as the transport sends or receives it: lower-case name, value.
public typealias HeaderField = (name: String, value: String)

/// Building and reading the HTTP/2 header blocks of gRPC (<https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md>).
/// Pure functions: the transport moves the fields, this decides what they are and mean.
public enum GRPCHeaders {
    /// Header names that carry protocol state and never appear as custom metadata.
    public static func isReserved(_ name: String) -> Bool {
        // Judged by first byte and length before any string comparison: this runs for every received
        // field, and most names (user-agent, custom metadata) fail the cheap test.
        let utf8 = name.utf8
        guard let first = utf8.first else { return false }
        let count = utf8.count
        switch first {
        case UInt8(ascii: ":"):
            return true
        case UInt8(ascii: "c"):
            return (count == 12 && name == "content-type") || (count == 14 && name == "content-length")
                || (count == 10 && name == "connection")
        case UInt8(ascii: "g"):
            switch count {
            case 11: return name == "grpc-status"
            case 12: return name == "grpc-timeout" || name == "grpc-message"
            case 13: return name == "grpc-encoding"
            case 20: return name == "grpc-accept-encoding"
            default: return false
            }
        case UInt8(ascii: "t"):
            return (count == 2 && name == "te") || (count == 17 && name == "transfer-encoding")
        case UInt8(ascii: "h"):
            return count == 4 && name == "host"
        case UInt8(ascii: "k"):
            return count == 10 && name == "keep-alive"
        case UInt8(ascii: "p"):
            return count == 16 && name == "proxy-connection"
        case UInt8(ascii: "u"):
            return count == 7 && name == "upgrade"
        default:
            return false
        }
    }

    /// The value of `grpc-accept-encoding` we send: every algorithm we can decompress.
    public static let acceptEncoding = "identity,gzip"

    /// Appends custom metadata as header fields: `-bin` values base64 (unpadded), reserved names dropped.
    public static func appendMetadata(_ metadata: Metadata, to fields: inout [HeaderField]) {
        for element in metadata where !isReserved(element.key) {
            switch element.value {
            case .string(let s):
                fields.append((element.key, s))
            case .binary(let b):
                fields.append((element.key, Base64.encode(b)))
            }
        }
    }

    /// Custom metadata from received header fields: reserved names skipped, `-bin` values decoded.
    /// A `-bin` value that is not valid base64 is an INTERNAL error naming the key, as in grpc-go.
    public static func metadata(from fields: [HeaderField]) throws(RPCError) -> Metadata {
        var metadata = Metadata()
        for (name, value) in fields {
            // Metadata keys are lower-cased, so the name is judged lower-cased too: `Grpc-Status` must
            // not become a `grpc-status` entry, nor `X-Trace-Bin` a string under an `-bin` key.
            let key = isLowercaseASCII(name) ? name : name.lowercased()
            guard !isReserved(key) else { continue }
            if isBinaryKey(key) {
                guard let bytes = Base64.decode(value) else {
                    throw RPCError(code: .internalError, message: "metadata '\(excerpt(key))' is not valid base64")
                }
                metadata.addBinary(bytes, forKey: key)
            } else {
                metadata.addString(value, forKey: key)
            }
        }
        return metadata
    }

    /// True when `key` ends in `-bin`, compared as bytes (a `hasSuffix` on the String costs a
    /// Unicode-aware comparison per received field).
    @inline(__always)
    static func isBinaryKey(_ key: String) -> Bool {
        let utf8 = key.utf8
        guard utf8.count >= 4 else { return false }
        return utf8.reversed().starts(with: "nib-".utf8)
    }

    /// At most 64 bytes of a value that came from a peer, for an error message.
    static func excerpt(_ value: String) -> String { PeerText.excerpt(value) }

    /// True when `name` is ASCII without upper-case letters, as HTTP/2 field names are: then
    /// lower-casing it would change nothing.
    private static func isLowercaseASCII(_ name: String) -> Bool {
        // Over the contiguous UTF-8 of a native string (every field the transport receives): one pass
        // with no iterator; anything else takes the general path.
        let fast = name.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            for b in bytes where b >= 0x80 || b &- UInt8(ascii: "A") < 26 { return false }
            return true
        }
        return fast ?? name.utf8.allSatisfy { $0 < 0x80 && !($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z")) }
    }

    /// The request header block for a new stream.
    public static func requestHeaders(
        for head: ClientRequestHead,
        authority: String,
        scheme: String,
        userAgent: String,
        now: ContinuousClock.Instant
    ) -> [HeaderField] {
        var fields: [HeaderField] = [
            (":method", "POST"),
            (":scheme", scheme),
            (":path", head.method.path),
            (":authority", authority),
            ("te", "trailers"),
            ("content-type", "application/grpc"),
        ]
        if let deadline = head.deadline {
            fields.append(("grpc-timeout", GRPCTimeout.encode(now.duration(to: deadline))))
        }
        if head.compression != .identity {
            fields.append(("grpc-encoding", head.compression.rawValue))
        }
        fields.append(("grpc-accept-encoding", acceptEncoding))
        // A caller's own user-agent goes in front of ours, as one header: two would be a malformed request.
        let callerAgent = head.metadata[stringValues: "user-agent"].first
        fields.append(("user-agent", callerAgent.map { "\($0) \(userAgent)" } ?? userAgent))
        var metadata = head.metadata
        if callerAgent != nil { metadata.removeAll(forKey: "user-agent") }
        appendMetadata(metadata, to: &fields)
        return fields
    }

    /// Why a server refuses a request at the HTTP or gRPC header level.
    public enum RequestRejection: Error, Sendable, Hashable {
        /// Answer with this HTTP status and no gRPC status (e.g. 415 for a wrong content-type).
        case http(status: Int, message: String)
        /// Answer 200 with a trailers-only response carrying this status.
        case grpc(Status)
    }

    /// Reads a request header block on the server: validates method and content-type, decodes
    /// `grpc-timeout` into a deadline from `now`, picks the response encoding from `grpc-accept-encoding`.
    public static func parseRequest(
        _ fields: [HeaderField],
        peer: String,
        now: ContinuousClock.Instant
    ) -> Result<ServerRequestHead, RequestRejection> {
        var method: String?
        var path: String?
        var contentType: String?
        var timeout: String?
        var encoding: String?
        var acceptEncoding: String?
        for (name, value) in fields {
            switch name {
            case ":method": method = value
            case ":path": path = value
            case "content-type": contentType = value
            case "grpc-timeout": timeout = value
            case "grpc-encoding": encoding = value
            case "grpc-accept-encoding": acceptEncoding = value
            default: break
            }
        }
        guard method == "POST" else {
            return .failure(.http(status: 405, message: "method \(method.map { excerpt($0) } ?? "(none)") not allowed; gRPC uses POST"))
        }
        guard let contentType, isGRPCContentType(contentType) else {
            return .failure(
                .http(status: 415, message: "content-type \(contentType.map { excerpt($0) } ?? "(none)") is not application/grpc"))
        }
        guard let path, !path.isEmpty else {
            return .failure(.grpc(Status(code: .unimplemented, message: "request without :path")))
        }
        var deadline: ContinuousClock.Instant?
        if let timeout {
            guard let duration = GRPCTimeout.decode(timeout) else {
                return .failure(.grpc(Status(code: .internalError, message: "malformed grpc-timeout '\(excerpt(timeout))'")))
            }
            guard duration > .zero else {
                // A deadline that has already passed: no handler runs for it.
                return .failure(.grpc(Status(code: .deadlineExceeded, message: "deadline exceeded (grpc-timeout \(timeout))")))
            }
            deadline = now.advanced(by: duration)
        }
        var requestEncoding = CompressionAlgorithm.identity
        if let encoding {
            guard let algorithm = CompressionAlgorithm(rawValue: encoding) else {
                return .failure(.grpc(Status(code: .unimplemented, message: "grpc-encoding '\(excerpt(encoding))' is not supported")))
            }
            requestEncoding = algorithm
        }
        var responseEncoding = CompressionAlgorithm.identity
        if requestEncoding == .gzip, let acceptEncoding,
            acceptEncoding.split(separator: ",").contains(where: { $0.trimmingSpaces == "gzip" })
        {
            responseEncoding = .gzip
        }
        let metadata: Metadata
        do {
            metadata = try self.metadata(from: fields)
        } catch {
            return .failure(.grpc(error.status))
        }
        return .success(
            ServerRequestHead(
                path: path,
                metadata: metadata,
                deadline: deadline,
                requestEncoding: requestEncoding,
                responseEncoding: responseEncoding,
                peer: peer
            )
        )
    }

    /// True for `application/grpc`, `application/grpc+proto`, `application/grpc;charset=...` and the like.
    public static func isGRPCContentType(_ value: String) -> Bool {
        let v = value.lowercased()
        guard v.hasPrefix("application/grpc") else { return false }
        let rest = v.dropFirst("application/grpc".count)
        return rest.isEmpty || rest.first == "+" || rest.first == ";"
    }

    /// The response header block (`:status 200`) with custom metadata.
    public static func responseHeaders(metadata: Metadata, encoding: CompressionAlgorithm) -> [HeaderField] {
        var fields: [HeaderField] = [(":status", "200"), ("content-type", "application/grpc")]
        if encoding != .identity { fields.append(("grpc-encoding", encoding.rawValue)) }
        fields.append(("grpc-accept-encoding", acceptEncoding))
        appendMetadata(metadata, to: &fields)
        return fields
    }

    /// The trailer block ending a stream. With `trailersOnly` it also carries `:status` and content-type,
    /// as the single header block of a response that sends no messages.
    public static func trailers(status: Status, metadata: Metadata, trailersOnly: Bool) -> [HeaderField] {
        var fields: [HeaderField] = []
        if trailersOnly {
            fields.append((":status", "200"))
            fields.append(("content-type", "application/grpc"))
        }
        fields.append(("grpc-status", String(status.code.rawValue)))
        if !status.message.isEmpty {
            fields.append(("grpc-message", PercentEncoding.encode(status.message)))
        }
        appendMetadata(metadata, to: &fields)
        return fields
    }

    /// What a response header block means to the client.
    public enum ResponseBlock: Sendable {
        /// Headers opening a normal response; messages use `encoding`.
        case headers(Metadata, encoding: CompressionAlgorithm)
        /// The end: trailers, or a trailers-only response, or a status synthesized from a bad response.
        case end(Status, Metadata)
    }

    /// Reads the first header block of a response. A block with `grpc-status` is trailers-only; a non-200
    /// `:status` or a wrong content-type ends the call with a synthesized status.
    public static func parseResponseHeaders(_ fields: [HeaderField]) -> ResponseBlock {
        var httpStatus: Int?
        var contentType: String?
        var encoding: String?
        var hasGRPCStatus = false
        for (name, value) in fields {
            switch name {
            case ":status": httpStatus = Int(value)
            case "content-type": contentType = value
            case "grpc-encoding": encoding = value
            case "grpc-status": hasGRPCStatus = true
            default: break
            }
        }
        guard let httpStatus else {
            return .end(Status(code: .internalError, message: "response without :status"), [:])
        }
        let metadata: Metadata
        do {
            metadata = try self.metadata(from: fields)
        } catch {
            return .end(error.status, [:])
        }
        if httpStatus != 200 {
            if hasGRPCStatus { return .end(parseStatus(fields), metadata) }
            return .end(StatusMapping.status(forHTTPStatus: httpStatus), metadata)
        }
        if hasGRPCStatus {
            return .end(parseStatus(fields), metadata)
        }
        guard let contentType, isGRPCContentType(contentType) else {
            return .end(
                Status(code: .unknown, message: "response content-type \(contentType.map { excerpt($0) } ?? "(none)") is not application/grpc"),
                metadata
            )
        }
        var algorithm = CompressionAlgorithm.identity
        if let encoding {
            guard let a = CompressionAlgorithm(rawValue: encoding) else {
                return .end(Status(code: .internalError, message: "response grpc-encoding '\(excerpt(encoding))' is not supported"), [:])
            }
            algorithm = a
        }
        return .headers(metadata, encoding: algorithm)
    }

    /// Reads a trailer block: the status (synthesized as UNKNOWN when `grpc-status` is missing or broken)
    /// and the trailing metadata. Trailing metadata that cannot be decoded makes the status INTERNAL.
    public static func parseTrailers(_ fields: [HeaderField]) -> (Status, Metadata) {
        do {
            return (parseStatus(fields), try metadata(from: fields))
        } catch {
            return (error.status, [:])
        }
    }

    private static func parseStatus(_ fields: [HeaderField]) -> Status {
        var codeValue: String?
        var message = ""
        for (name, value) in fields {
            if name == "grpc-status" { codeValue = value }
            else if name == "grpc-message" { message = PercentEncoding.decode(value) }
        }
        guard let codeValue else {
            return Status(code: .unknown, message: "response trailers without grpc-status")
        }
        guard let raw = Int(codeValue), let code = Status.Code(rawValue: raw) else {
            // Unknown codes map to UNKNOWN, keeping the message.
            return Status(code: .unknown, message: message.isEmpty ? "invalid grpc-status '\(excerpt(codeValue))'" : message)
        }
        return Status(code: code, message: message)
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}
