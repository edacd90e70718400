@_spi(Locking) import BreakwaterCore
import CoreMetrics

/// The metric handles of one method on one side (client or server), made once and reused by every
/// call: a call then costs no factory look-up. Handles keyed by status code or reason are made on first
/// use, under a `TSanMutex`.
final class MethodMetrics: Sendable {
    private struct Keyed {
        var durations: [Int: Timer] = [:]
        var attempts: [Int: Recorder] = [:]
        var retries: [String: Counter] = [:]
        var rejections: [String: Counter] = [:]
    }

    let started: Counter
    let active: Meter
    let requestSize: Recorder
    let responseSize: Recorder?
    private let durationLabel: String
    private let attemptsLabel: String?
    private let dimensions: [(String, String)]
    private let factory: any MetricsFactory
    private let keyed = TSanMutex(Keyed())
    /// The duration and attempts of OK calls, most calls, made up front: no lock when a call succeeds.
    private let okDuration: Timer
    private let okAttempts: Recorder?

    init(method: MethodDescriptor, client: Bool, factory: any MetricsFactory) {
        let dimensions = [
            (RPCMetricNames.Dimension.system, "grpc"),
            (RPCMetricNames.Dimension.service, method.service),
            (RPCMetricNames.Dimension.method, method.method),
        ]
        self.dimensions = dimensions
        self.factory = factory
        if client {
            started = Counter(label: RPCMetricNames.clientCallsStarted, dimensions: dimensions, factory: factory)
            active = Meter(label: RPCMetricNames.clientCallsActive, dimensions: dimensions, factory: factory)
            requestSize = Recorder(label: RPCMetricNames.clientRequestSize, dimensions: dimensions, factory: factory)
            responseSize = Recorder(label: RPCMetricNames.clientResponseSize, dimensions: dimensions, factory: factory)
            durationLabel = RPCMetricNames.clientDuration
            attemptsLabel = RPCMetricNames.clientAttemptsPerRPC
        } else {
            started = Counter(label: RPCMetricNames.serverCallsStarted, dimensions: dimensions, factory: factory)
            active = Meter(label: RPCMetricNames.serverCallsActive, dimensions: dimensions, factory: factory)
            requestSize = Recorder(label: RPCMetricNames.serverRequestSize, dimensions: dimensions, factory: factory)
            responseSize = Recorder(label: RPCMetricNames.serverResponseSize, dimensions: dimensions, factory: factory)
            durationLabel = RPCMetricNames.serverDuration
            attemptsLabel = nil
        }
        let ok = dimensions + [(RPCMetricNames.Dimension.statusCode, String(Status.Code.ok.rawValue))]
        okDuration = Timer(label: durationLabel, dimensions: ok, preferredDisplayUnit: .milliseconds, factory: factory)
        okAttempts = attemptsLabel.map { Recorder(label: $0, dimensions: ok, aggregate: true, factory: factory) }
    }

    /// Records how a call ended: its duration and, on the client, its attempts.
    func ended(code: Status.Code, nanoseconds: Int64, attempts: Int) {
        if code == .ok {
            okDuration.recordNanoseconds(nanoseconds)
            okAttempts?.record(attempts)
            return
        }
        let (duration, attemptsRecorder) = keyed.withLock { keyed -> (Timer, Recorder?) in
            let raw = code.rawValue
            let timer: Timer
            if let found = keyed.durations[raw] {
                timer = found
            } else {
                timer = Timer(
                    label: durationLabel, dimensions: withStatus(code), preferredDisplayUnit: .milliseconds,
                    factory: factory)
                keyed.durations[raw] = timer
            }
            guard let attemptsLabel else { return (timer, nil) }
            if let found = keyed.attempts[raw] { return (timer, found) }
            let recorder = Recorder(label: attemptsLabel, dimensions: withStatus(code), aggregate: true, factory: factory)
            keyed.attempts[raw] = recorder
            return (timer, recorder)
        }
        duration.recordNanoseconds(nanoseconds)
        attemptsRecorder?.record(attempts)
    }

    /// Counts one retry.
    func retried(reason: String) {
        counter(\.retries, key: reason, label: RPCMetricNames.clientRetries, dimension: RPCMetricNames.Dimension.retryReason)
            .increment()
    }

    /// Counts one attempt an interceptor ended without the network.
    func rejected(by name: String) {
        counter(\.rejections, key: name, label: RPCMetricNames.clientRejections, dimension: RPCMetricNames.Dimension.rejectedBy)
            .increment()
    }

    private func counter(
        _ path: WritableKeyPath<Keyed, [String: Counter]>, key: String, label: String, dimension: String
    ) -> Counter {
        keyed.withLock { keyed in
            if let found = keyed[keyPath: path][key] { return found }
            let counter = Counter(label: label, dimensions: dimensions + [(dimension, key)], factory: factory)
            keyed[keyPath: path][key] = counter
            return counter
        }
    }

    private func withStatus(_ code: Status.Code) -> [(String, String)] {
        dimensions + [(RPCMetricNames.Dimension.statusCode, String(code.rawValue))]
    }
}

/// The ``MethodMetrics`` of every method seen so far, under a `TSanMutex`.
final class MethodMetricsTable: Sendable {
    private let client: Bool
    private let factory: any MetricsFactory
    private let table = TSanMutex<[MethodDescriptor: MethodMetrics]>([:])

    init(client: Bool, factory: any MetricsFactory) {
        self.client = client
        self.factory = factory
    }

    func metrics(for method: MethodDescriptor) -> MethodMetrics {
        if let found = table.withLock({ $0[method] }) { return found }
        let made = MethodMetrics(method: method, client: client, factory: factory)
        return table.withLock { table in
            if let found = table[method] { return found }
            table[method] = made
            return made
        }
    }
}
