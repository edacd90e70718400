import EchoService
import BenchSupport
import BreakwaterCore
import Histogram
import Synchronization

/// One kind of call and how its answer is checked.
enum EchoCall: Sendable {
    /// `Get` with this text; the response must carry it back.
    case unary(text: String)
    /// `Expand` of `messages` words; exactly that many responses, each `benchWord`, must come back.
    case expand(messages: Int)

    var request: Echo_EchoRequest {
        switch self {
        case .unary(let text): Echo_EchoRequest.with { $0.text = text }
        case .expand(let messages): Echo_EchoRequest.with { $0.text = expandText(messages: messages) }
        }
    }

    /// Makes the call; returns whether its answer was right and how many response messages arrived.
    func perform(_ echo: Echo_EchoClient, _ request: Echo_EchoRequest) async -> (ok: Bool, messages: Int) {
        do {
            switch self {
            case .unary:
                let response = try await echo.get(request)
                return (response.text == request.text, 1)
            case .expand(let expected):
                var received = 0
                var allRight = true
                for try await response in try await echo.expand(request) {
                    received += 1
                    if response.text != benchWord { allRight = false }
                }
                return (allRight && received == expected, received)
            }
        } catch {
            return (false, 0)
        }
    }
}

/// A closed-loop caller: its client and, optionally, the executor it prefers.
struct Caller: Sendable {
    let echo: Echo_EchoClient
    let executor: (any TaskExecutor)?
}

/// One run of closed-loop callers until a number of calls or a time is used up, as echo_load.cc runs them:
/// in call-count mode the callers draw tickets from one counter; in time mode no call starts after the end.
final class ClosedLoop: Sendable {
    enum Stop: Sendable {
        case calls(Int)
        case seconds(Double)
    }

    let call: EchoCall
    let stop: Stop
    let recording: Bool
    private let issued = Atomic<Int>(0)
    private let errors = Atomic<Int>(0)
    private let messages = Atomic<Int>(0)
    /// Latencies in nanoseconds; one histogram for all callers (a per-caller one would cost ~200 KiB each
    /// and show up in peak_rss_kb).
    private let latencies = Mutex(Histogram<UInt64>(
        lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: .three))

    init(call: EchoCall, stop: Stop, recording: Bool) {
        self.call = call
        self.stop = stop
        self.recording = recording
    }

    /// Runs every caller to the end; returns the seconds from the first start to the last end.
    func run(_ callers: [Caller]) async -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        var end: ContinuousClock.Instant?
        if case .seconds(let seconds) = stop { end = start + .nanoseconds(Int64(seconds * 1e9)) }
        let deadline = end
        let request = call.request
        await withTaskGroup(of: Void.self) { group in
            for caller in callers {
                let loop: @Sendable () async -> Void = {
                    while self.mayStart(now: clock.now, end: deadline) {
                        let t0 = clock.now
                        let (ok, received) = await self.call.perform(caller.echo, request)
                        let t1 = clock.now
                        self.finished(ok: ok, messages: received, latency: t1 - t0)
                    }
                }
                // A nil preference is not free: the runtime then looks for one at every await.
                if let executor = caller.executor {
                    group.addTask(executorPreference: executor, operation: loop)
                } else {
                    group.addTask(operation: loop)
                }
            }
        }
        let elapsed = clock.now - start
        let (seconds, attoseconds) = elapsed.components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }

    private func mayStart(now: ContinuousClock.Instant, end: ContinuousClock.Instant?) -> Bool {
        switch stop {
        case .calls(let calls): issued.wrappingAdd(1, ordering: .relaxed).oldValue < calls
        case .seconds: now < end!
        }
    }

    private func finished(ok: Bool, messages received: Int, latency: Duration) {
        guard recording else { return }
        if !ok { errors.wrappingAdd(1, ordering: .relaxed) }
        messages.wrappingAdd(received, ordering: .relaxed)
        let (seconds, attoseconds) = latency.components
        let ns = UInt64(max(1, seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
        latencies.withLock { _ = $0.record(ns) }
    }

    struct Summary {
        var calls: Int
        var errors: Int
        var qps: Double
        var messagesPerSecond: Double
        var p50Us: Double
        var p90Us: Double
        var p99Us: Double
        var maxUs: Double
    }

    func summary(elapsedSeconds: Double) -> Summary {
        latencies.withLock { h in
            let calls = Int(h.totalCount)
            func us(_ percentile: Double) -> Double { calls == 0 ? 0 : Double(h.valueAtPercentile(percentile)) / 1000 }
            return Summary(
                calls: calls, errors: errors.load(ordering: .relaxed),
                qps: Double(calls) / elapsedSeconds,
                messagesPerSecond: Double(messages.load(ordering: .relaxed)) / elapsedSeconds,
                p50Us: us(50), p90Us: us(90), p99Us: us(99),
                maxUs: calls == 0 ? 0 : Double(h.maxRecorded) / 1000)
        }
    }
}
