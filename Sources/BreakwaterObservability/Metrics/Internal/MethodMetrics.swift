@_spi(Locking) import BreakwaterCore
import CoreMetrics

/// The metric handlers of one method on one side (client or server), made once from the factory and
/// reused by every call: a call then costs no factory look-up, and each update is one call on the
/// backend's handler (not through swift-metrics' `Counter`/`Timer` wrappers, whose generic
/// `increment(by:)` and `record(_:)` were a measurable share of a call). Handlers keyed by status code or
/// reason are made on first use, under a `TSanMutex`.
final class MethodMetrics: Sendable {
    private struct Keyed {
        var durations: [Int: any TimerHandler] = [:]
        var attempts: [Int: any RecorderHandler] = [:]
        var retries: [String: any CounterHandler] = [:]
        var rejections: [String: any CounterHandler] = [:]
    }

    private let started: any CounterHandler
    private let active: any MeterHandler
    private let requestSize: any RecorderHandler
    private let responseSize: any RecorderHandler
    private let durationLabel: String
    private let attemptsLabel: String?
    private let dimensions: [(String, String)]
    private let factory: any MetricsFactory
    private let keyed = TSanMutex(Keyed())
    /// The duration and attempts of OK calls, most calls, made up front: no lock when a call succeeds.
    private let okDuration: any TimerHandler
    private let okAttempts: (any RecorderHandler)?

    init(method: MethodDescriptor, client: Bool, factory: any MetricsFactory) {
        let dimensions = [
            (RPCMetricNames.Dimension.system, "grpc"),
            (RPCMetricNames.Dimension.service, method.service),
            (RPCMetricNames.Dimension.method, method.method),
        ]
        self.dimensions = dimensions
        self.factory = factory
        if client {
            started = factory.makeCounter(label: RPCMetricNames.clientCallsStarted, dimensions: dimensions)
            active = factory.makeMeter(label: RPCMetricNames.clientCallsActive, dimensions: dimensions)
            requestSize = factory.makeRecorder(label: RPCMetricNames.clientRequestSize, dimensions: dimensions, aggregate: true)
            responseSize = factory.makeRecorder(label: RPCMetricNames.clientResponseSize, dimensions: dimensions, aggregate: true)
            durationLabel = RPCMetricNames.clientDuration
            attemptsLabel = RPCMetricNames.clientAttemptsPerRPC
        } else {
            started = factory.makeCounter(label: RPCMetricNames.serverCallsStarted, dimensions: dimensions)
            active = factory.makeMeter(label: RPCMetricNames.serverCallsActive, dimensions: dimensions)
            requestSize = factory.makeRecorder(label: RPCMetricNames.serverRequestSize, dimensions: dimensions, aggregate: true)
            responseSize = factory.makeRecorder(label: RPCMetricNames.serverResponseSize, dimensions: dimensions, aggregate: true)
            durationLabel = RPCMetricNames.serverDuration
            attemptsLabel = nil
        }
        okDuration = Self.timer(durationLabel, dimensions: Self.withStatus(dimensions, .ok), factory: factory)
        okAttempts = attemptsLabel.map {
            factory.makeRecorder(label: $0, dimensions: Self.withStatus(dimensions, .ok), aggregate: true)
        }
    }

    // The updates are methods of this class, not its handlers called from outside: inside, `self` is
    // kept alive by the caller, so the handlers are used in place instead of copied (a retain and a
    // release each) for every update.

    /// Counts a call that starts: started, and active until ``callEnded(code:nanoseconds:attempts:)``.
    func callStarted() {
        started.increment(by: 1)
        active.increment(by: 1)
    }

    /// Records the size of a request message, in bytes.
    func requestMessage(bytes: Int) {
        requestSize.record(Int64(bytes))
    }

    /// Records the size of a response message, in bytes.
    func responseMessage(bytes: Int) {
        responseSize.record(Int64(bytes))
    }

    /// Records how a call ended: no longer active, its duration and, on the client, its attempts.
    func callEnded(code: Status.Code, nanoseconds: Int64, attempts: Int) {
        active.decrement(by: 1)
        if code == .ok {
            okDuration.recordNanoseconds(nanoseconds)
            okAttempts?.record(Int64(attempts))
            return
        }
        let (duration, attemptsRecorder) = keyed.withLock { keyed -> (any TimerHandler, (any RecorderHandler)?) in
            let raw = code.rawValue
            let timer: any TimerHandler
            if let found = keyed.durations[raw] {
                timer = found
            } else {
                timer = Self.timer(durationLabel, dimensions: Self.withStatus(dimensions, code), factory: factory)
                keyed.durations[raw] = timer
            }
            guard let attemptsLabel else { return (timer, nil) }
            if let found = keyed.attempts[raw] { return (timer, found) }
            let recorder = factory.makeRecorder(
                label: attemptsLabel, dimensions: Self.withStatus(dimensions, code), aggregate: true)
            keyed.attempts[raw] = recorder
            return (timer, recorder)
        }
        duration.recordNanoseconds(nanoseconds)
        attemptsRecorder?.record(Int64(attempts))
    }

    /// Counts one retry.
    func retried(reason: String) {
        counter(\.retries, key: reason, label: RPCMetricNames.clientRetries, dimension: RPCMetricNames.Dimension.retryReason)
            .increment(by: 1)
    }

    /// Counts one attempt an interceptor ended without the network.
    func rejected(by name: String) {
        counter(\.rejections, key: name, label: RPCMetricNames.clientRejections, dimension: RPCMetricNames.Dimension.rejectedBy)
            .increment(by: 1)
    }

    private func counter(
        _ path: WritableKeyPath<Keyed, [String: any CounterHandler]>, key: String, label: String, dimension: String
    ) -> any CounterHandler {
        keyed.withLock { keyed in
            if let found = keyed[keyPath: path][key] { return found }
            let counter = factory.makeCounter(label: label, dimensions: dimensions + [(dimension, key)])
            keyed[keyPath: path][key] = counter
            return counter
        }
    }

    /// A timer handler that prefers milliseconds for display, as `Timer(preferredDisplayUnit:)` makes one.
    private static func timer(_ label: String, dimensions: [(String, String)], factory: any MetricsFactory) -> any TimerHandler {
        let handler = factory.makeTimer(label: label, dimensions: dimensions)
        handler.preferDisplayUnit(.milliseconds)
        return handler
    }

    private static func withStatus(_ dimensions: [(String, String)], _ code: Status.Code) -> [(String, String)] {
        dimensions + [(RPCMetricNames.Dimension.statusCode, String(code.rawValue))]
    }
}
