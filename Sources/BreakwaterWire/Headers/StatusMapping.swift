import BreakwaterCore
/// Status synthesis when a peer does not send `grpc-status`, per gRPC's
/// <https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md>, and the mapping of RST_STREAM codes to statuses.
public enum StatusMapping {
    /// The gRPC status for a response with a non-200 HTTP status and no `grpc-status`.
    public static func status(forHTTPStatus httpStatus: Int) -> Status {
        let code: Status.Code
        switch httpStatus {
        case 400: code = .internalError
        case 401: code = .unauthenticated
        case 403: code = .permissionDenied
        case 404: code = .unimplemented
        case 429, 502, 503, 504: code = .unavailable
        default: code = .unknown
        }
        return Status(code: code, message: "HTTP status \(httpStatus) without grpc-status")
    }

    /// HTTP/2 error codes (RFC 9113 section 7).
    public enum HTTP2ErrorCode: UInt32, Sendable {
        case noError = 0x0
        case protocolError = 0x1
        case internalError = 0x2
        case flowControlError = 0x3
        case settingsTimeout = 0x4
        case streamClosed = 0x5
        case frameSizeError = 0x6
        case refusedStream = 0x7
        case cancel = 0x8
        case compressionError = 0x9
        case connectError = 0xA
        case enhanceYourCalm = 0xB
        case inadequateSecurity = 0xC
        case http11Required = 0xD
    }

    /// The gRPC status for a stream reset by the peer with `errorCode`.
    public static func status(forRSTStreamCode errorCode: UInt32) -> Status {
        let code: Status.Code
        switch HTTP2ErrorCode(rawValue: errorCode) {
        case .refusedStream: code = .unavailable
        case .cancel: code = .cancelled
        case .enhanceYourCalm: code = .resourceExhausted
        case .inadequateSecurity: code = .permissionDenied
        default: code = .internalError
        }
        let name = HTTP2ErrorCode(rawValue: errorCode).map { "\($0)" } ?? "0x\(String(errorCode, radix: 16))"
        return Status(code: code, message: "stream reset by peer (RST_STREAM \(name))")
    }
}
