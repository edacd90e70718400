import BreakwaterCore
import Synchronization
import Tracing

/// One client call's span: an event per attempt, retry and interceptor decision, ended once with the
/// call's status (from `next`'s error or from the response body's end).
final class ClientCallSpan: ClientCallObserver, ClientResponseObserver {
    let span: any Span
    private let attempts = Atomic<Int>(0)
    private let done = Atomic<Bool>(false)

    init(span: any Span) {
        self.span = span
    }

    func observe(_ event: ClientCallEvent, context: ClientContext) {
        guard span.isRecording else { return }
        switch event {
        case .attemptStarted:
            let number = attempts.wrappingAdd(1, ordering: .relaxed).newValue
            span.addEvent(SpanEvent(name: "attempt", attributes: ["rpc.attempt": .int64(Int64(number))]))
        case .retry(let retry):
            let backoff = retry.backoff.components
            var attributes: SpanAttributes = [
                "rpc.attempt": .int64(Int64(retry.attempt)), "rpc.retry.reason": .string(retry.reason.name),
                "rpc.retry.backoff_ms": .double(Double(backoff.seconds) * 1e3 + Double(backoff.attoseconds) / 1e15),
            ]
            if let code = retry.reason.code { attributes["rpc.grpc.status_code"] = code.rawValue }
            span.addEvent(SpanEvent(name: "retry", attributes: attributes))
        case .admitted(let by, let detail):
            span.addEvent(SpanEvent(name: "\(by) admitted", attributes: ["detail": .string(detail)]))
        case .rejected(let by, let reason):
            span.addEvent(SpanEvent(name: "\(by) rejected", attributes: ["reason": .string(reason)]))
        case .messageSent, .messageReceived:
            break
        }
    }

    func responseEnded(_ end: ClientResponseEnd) {
        switch end {
        case .trailers: ended(code: .ok, message: nil)
        case .error(let error):
            let status = CallSpanStatus.status(of: error)
            ended(code: status.code, message: status.message)
        case .abandoned: ended(code: .cancelled, message: "the response was dropped before its status")
        }
    }

    /// Ends the span; only the first report counts.
    func ended(code: Status.Code, message: String?) {
        guard !done.exchange(true, ordering: .acquiringAndReleasing) else { return }
        CallSpanStatus.end(span, code: code, message: message, server: false)
    }
}
