import BreakwaterCore
import Tracing

/// How a call's gRPC status goes on its span, as OpenTelemetry's RPC conventions say: the code as the
/// `rpc.grpc.status_code` attribute; an error status for every non-OK code on a client span, and on a
/// server span only for the codes that mean the server failed (UNKNOWN, DEADLINE_EXCEEDED,
/// UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS).
enum CallSpanStatus {
    /// Puts the method's attributes on a recording span, in one update; for an attempt's span, also its
    /// number (`rpc.attempt`) and, for a retry or hedge, why it was made (`rpc.retry.reason`).
    static func describe(_ span: any Span, _ method: MethodDescriptor, attempt: ClientAttempt? = nil) {
        span.updateAttributes { attributes in
            attributes["rpc.system"] = "grpc"
            attributes["rpc.service"] = method.service
            attributes["rpc.method"] = method.method
            if let attempt {
                attributes["rpc.attempt"] = attempt.number
                if let reason = attempt.reason { attributes["rpc.retry.reason"] = reason.name }
            }
        }
    }

    /// The code and message of how a response ended.
    static func status(of end: ClientResponseEnd) -> (code: Status.Code, message: String?) {
        switch end {
        case .trailers:
            return (.ok, nil)
        case .error(let error):
            let status = status(of: error)
            return (status.code, status.message)
        case .abandoned:
            return (.cancelled, "the response was dropped before its status")
        }
    }

    /// Puts the status on `span` and ends it; a span that does not record is only ended.
    static func end(_ span: any Span, code: Status.Code, message: String?, server: Bool) {
        guard span.isRecording else {
            span.end()
            return
        }
        span.attributes["rpc.grpc.status_code"] = code.rawValue
        if isError(code, server: server) {
            span.setStatus(SpanStatus(code: .error, message: message ?? "\(code)"))
        }
        span.end()
    }

    static func isError(_ code: Status.Code, server: Bool) -> Bool {
        guard code != .ok else { return false }
        guard server else { return true }
        switch code {
        case .unknown, .deadlineExceeded, .unimplemented, .internalError, .unavailable, .dataLoss: return true
        default: return false
        }
    }

    /// The code and message of what a call threw.
    static func status(of error: any Error) -> (code: Status.Code, message: String) {
        switch error {
        case let rpc as RPCError: (rpc.code, rpc.message)
        case is CancellationError: (.cancelled, "cancelled")
        default: (.unknown, "\(error)")
        }
    }
}
