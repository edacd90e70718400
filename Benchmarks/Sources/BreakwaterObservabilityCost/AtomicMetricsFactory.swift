import CoreMetrics
import Synchronization

/// A metrics backend as cheap as one can be: every handler is an atomic add. It stands for a real
/// backend (swift-prometheus, swift-otel) without its own costs, so the figures show what the
/// interceptors themselves add.
final class AtomicMetricsFactory: MetricsFactory {
    final class Handler: CounterHandler, FloatingPointCounterHandler, MeterHandler, RecorderHandler, TimerHandler {
        let total = Atomic<Int64>(0)
        let count = Atomic<Int64>(0)

        func increment(by amount: Int64) { total.wrappingAdd(amount, ordering: .relaxed) }
        func increment(by amount: Double) { total.wrappingAdd(Int64(amount), ordering: .relaxed) }
        func decrement(by amount: Double) { total.wrappingSubtract(Int64(amount), ordering: .relaxed) }
        func reset() { total.store(0, ordering: .relaxed) }
        func set(_ value: Int64) { total.store(value, ordering: .relaxed) }
        func set(_ value: Double) { total.store(Int64(value), ordering: .relaxed) }
        func record(_ value: Int64) {
            total.wrappingAdd(value, ordering: .relaxed)
            count.wrappingAdd(1, ordering: .relaxed)
        }
        func record(_ value: Double) { record(Int64(value)) }
        func recordNanoseconds(_ duration: Int64) { record(duration) }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { Handler() }
    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler { Handler() }
    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler { Handler() }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { Handler() }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { Handler() }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    func destroyMeter(_ handler: any MeterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}
