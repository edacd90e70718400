import BreakwaterCore
import Tracing

/// One network attempt's span, a child of its call's span: ended once, with the attempt's status, when
/// the transport end of the chain says how the attempt ended.
struct ClientAttemptSpan: ClientResponseObserver {
    let span: any Span

    func responseEnded(_ end: ClientResponseEnd) {
        let status = CallSpanStatus.status(of: end)
        CallSpanStatus.end(span, code: status.code, message: status.message, server: false)
    }
}
