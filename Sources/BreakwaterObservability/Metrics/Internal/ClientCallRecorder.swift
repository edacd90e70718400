import BreakwaterCore
import Synchronization

/// One client call's measurements: started when made, ended once (from `next`'s error or from the
/// response body's end). Attempts count with an `Atomic`, since the attempts and the response body
/// may report from different tasks.
final class ClientCallRecorder: ClientCallObserver, ClientResponseObserver {
    private let metrics: MethodMetrics
    private let start = MonotonicNanoseconds.now()
    private let attempts = Atomic<Int>(0)
    private let done = Atomic<Bool>(false)

    init(metrics: MethodMetrics) {
        self.metrics = metrics
        metrics.callStarted()
    }

    func observe(_ event: ClientCallEvent, context: ClientContext) {
        switch event {
        case .attemptStarted:
            attempts.wrappingAdd(1, ordering: .relaxed)
        case .messageSent(let bytes):
            metrics.requestMessage(bytes: bytes)
        case .messageReceived(let bytes):
            metrics.responseMessage(bytes: bytes)
        case .retry(let retry):
            metrics.retried(reason: retry.reason.name)
        case .rejected(let by, _):
            metrics.rejected(by: by)
        case .admitted:
            break
        }
    }

    func responseEnded(_ end: ClientResponseEnd) {
        switch end {
        case .trailers: ended(code: .ok)
        case .error(let error): ended(code: ClientMetricsInterceptor.code(of: error))
        case .abandoned: ended(code: .cancelled)
        }
    }

    /// Records the call's end; only the first report counts.
    func ended(code: Status.Code) {
        guard !done.exchange(true, ordering: .acquiringAndReleasing) else { return }
        metrics.callEnded(
            code: code, nanoseconds: MonotonicNanoseconds.now() &- start, attempts: attempts.load(ordering: .relaxed))
    }
}
