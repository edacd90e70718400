@_spi(Locking) import BreakwaterCore
import Synchronization
import Tracing

/// One client call's span: the parent of a span per network attempt (``ClientAttemptSpan``), with an
/// event per retry and per attempt an interceptor ended without the network (a breaker's rejection),
/// ended once with the call's status (from `next`'s error or from the response body's end).
///
/// Made only for a span that records, so a call whose span is sampled out (or a no-op tracer) has no
/// observer at all.
final class ClientCallSpan: ClientCallObserver, ClientResponseObserver {
    let span: any Span
    private let tracer: any Tracer
    private let name: String
    private let method: MethodDescriptor
    private let done = Atomic<Bool>(false)
    /// What interceptors decided for attempts that have not reached the transport yet (a breaker's
    /// admission), with the attempt's number: each goes on its attempt's span when that starts. Under a
    /// `TSanMutex`, since hedged attempts report from tasks of their own.
    private let decisions = TSanMutex<[(attempt: Int, event: SpanEvent)]>([])

    init(span: any Span, tracer: any Tracer, name: String, method: MethodDescriptor) {
        self.span = span
        self.tracer = tracer
        self.name = name
        self.method = method
    }

    func observe(_ event: ClientCallEvent, context: ClientContext) {
        switch event {
        case .retry(let retry):
            let backoff = retry.backoff.components
            var attributes: SpanAttributes = [
                "rpc.attempt": .int64(Int64(retry.attempt)), "rpc.retry.reason": .string(retry.reason.name),
                "rpc.retry.backoff_ms": .double(Double(backoff.seconds) * 1e3 + Double(backoff.attoseconds) / 1e15),
            ]
            if let code = retry.reason.code { attributes["rpc.grpc.status_code"] = code.rawValue }
            span.addEvent(SpanEvent(name: "retry", attributes: attributes))
        case .admitted(let by, let detail):
            let decision = SpanEvent(name: "\(by) admitted", attributes: ["detail": .string(detail)])
            decisions.withLock { $0.append((context.attempt.number, decision)) }
        case .rejected(let by, let reason):
            span.addEvent(
                SpanEvent(
                    name: "\(by) rejected",
                    attributes: ["reason": .string(reason), "rpc.attempt": .int64(Int64(context.attempt.number))]))
        case .attemptStarted, .messageSent, .messageReceived:
            break
        }
    }

    /// Starts the attempt's span, a child of the call's, and puts its context in the attempt's metadata,
    /// so that the server's span is the attempt's child.
    func attemptStarting(context: ClientContext, metadata: inout Metadata) -> (any ClientResponseObserver)? {
        let attempt = context.attempt
        let child = tracer.startAnySpan(name, context: span.context, ofKind: .client)
        tracer.inject(child.context, into: &metadata, using: MetadataInjector())
        let decided = takeDecisions(for: attempt.number)
        guard child.isRecording else {
            child.end()
            return nil
        }
        CallSpanStatus.describe(child, method, attempt: attempt)
        for event in decided { child.addEvent(event) }
        return ClientAttemptSpan(span: child)
    }

    func responseEnded(_ end: ClientResponseEnd) {
        let status = CallSpanStatus.status(of: end)
        ended(code: status.code, message: status.message)
    }

    /// Ends the span; only the first report counts. A decision whose attempt never reached the
    /// transport goes on the call's span.
    func ended(code: Status.Code, message: String?) {
        guard !done.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let left = decisions.withLock { decisions in decisions.map(\.event) }
        for event in left { span.addEvent(event) }
        CallSpanStatus.end(span, code: code, message: message, server: false)
    }

    private func takeDecisions(for attempt: Int) -> [SpanEvent] {
        decisions.withLock { decisions in
            guard !decisions.isEmpty else { return [] }
            var taken: [SpanEvent] = []
            var kept: [(attempt: Int, event: SpanEvent)] = []
            for decision in decisions {
                if decision.attempt == attempt { taken.append(decision.event) } else { kept.append(decision) }
            }
            decisions = kept
            return taken
        }
    }
}
