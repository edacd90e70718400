import BreakwaterCore
import Testing

@testable import BreakwaterResilience

@Suite("GradientLimit: the adaptive concurrency limit, fed with samples")
struct GradientLimitTests {
    static let configuration = GradientLimit.Configuration(initialLimit: 20, minLimit: 2, maxLimit: 100, samplesPerUpdate: 1)

    @Test("steady latency with the limit in use: the limit grows by about its square root, smoothed")
    func grows() {
        var limit = GradientLimit(configuration: Self.configuration)
        limit.record(rtt: .milliseconds(10), inFlight: 20, dropped: false)
        // 20 × 0.8 + (20 × 1 + √20) × 0.2
        #expect(abs(limit.estimate - (16 + (20 + 20.0.squareRoot()) * 0.2)) < 1e-9)
        for _ in 0..<200 { limit.record(rtt: .milliseconds(10), inFlight: limit.limit, dropped: false) }
        #expect(limit.limit == 100)  // clamped at maxLimit
    }

    @Test("latency climbing under load shrinks the limit, to where halving meets the √limit queue allowance")
    func shrinks() {
        var limit = GradientLimit(configuration: Self.configuration)
        for _ in 0..<10 { limit.record(rtt: .milliseconds(10), inFlight: limit.limit, dropped: false) }
        let before = limit.estimate
        limit.record(rtt: .milliseconds(100), inFlight: limit.limit, dropped: false)
        #expect(limit.estimate < before)
        #expect(limit.estimate >= before * 0.9 - 1e-9)  // smoothing 0.2 of a gradient ≥ 0.5
        for _ in 0..<200 { limit.record(rtt: .milliseconds(100), inFlight: limit.limit, dropped: false) }
        #expect(limit.limit < 10)
        // e = 0.9 e + 0.2 √e has its fixed point at 4; drops, not latency alone, go lower.
        for _ in 0..<200 { limit.record(rtt: .milliseconds(1000), inFlight: limit.limit, dropped: false) }
        #expect(limit.limit <= 4)
    }

    @Test("latency within the tolerance keeps growing the limit")
    func tolerance() {
        var limit = GradientLimit(configuration: Self.configuration)
        limit.record(rtt: .milliseconds(10), inFlight: 20, dropped: false)
        let before = limit.estimate
        limit.record(rtt: .milliseconds(14), inFlight: 20, dropped: false)  // 1.4× < 1.5×
        #expect(limit.estimate > before)
    }

    @Test("a caller that uses less than half the limit does not grow it")
    func appLimited() {
        var limit = GradientLimit(configuration: Self.configuration)
        for _ in 0..<50 { limit.record(rtt: .milliseconds(10), inFlight: 3, dropped: false) }
        #expect(limit.estimate == 20)
        #expect(limit.longRTT != nil)
    }

    @Test("a window updates the limit once, with its average latency; a drop in it backs off instead")
    func windows() {
        var limit = GradientLimit(configuration: GradientLimit.Configuration(initialLimit: 20, samplesPerUpdate: 3))
        limit.record(rtt: .milliseconds(10), inFlight: 20, dropped: false)
        limit.record(rtt: .milliseconds(20), inFlight: 20, dropped: false)
        #expect(limit.estimate == 20)
        #expect(limit.longRTT == nil)
        limit.record(rtt: .milliseconds(30), inFlight: 20, dropped: false)
        #expect(abs((limit.longRTT ?? 0) - 0.02) < 1e-12)
        #expect(limit.estimate > 20)
        let grown = limit.estimate
        limit.record(rtt: .milliseconds(10), inFlight: 20, dropped: false)
        limit.record(rtt: .milliseconds(10), inFlight: 20, dropped: true)
        limit.record(rtt: .milliseconds(10), inFlight: 20, dropped: false)
        #expect(abs(limit.estimate - grown * 0.9) < 1e-9)
    }

    @Test("a dropped call backs the limit off by backoffRatio")
    func drops() {
        var limit = GradientLimit(configuration: Self.configuration)
        limit.record(rtt: .seconds(1), inFlight: 20, dropped: true)
        #expect(abs(limit.estimate - 18) < 1e-9)
        for _ in 0..<100 { limit.record(rtt: .seconds(1), inFlight: 1, dropped: true) }
        #expect(limit.limit == 2)
    }

    @Test("configurations are checked, naming the field")
    func validation() {
        func path(_ c: GradientLimit.Configuration) -> String? {
            do {
                try ConcurrencyLimitPolicy.adaptive(c).validate()
                return nil
            } catch {
                return error.path
            }
        }
        #expect(path(GradientLimit.Configuration()) == nil)
        #expect(path(GradientLimit.Configuration(minLimit: 0)) == "adaptive.minLimit")
        #expect(path(GradientLimit.Configuration(initialLimit: 5, minLimit: 10, maxLimit: 20)) == "adaptive.initialLimit")
        #expect(path(GradientLimit.Configuration(minLimit: 10, maxLimit: 5)) == "adaptive.maxLimit")
        #expect(path(GradientLimit.Configuration(tolerance: 0.5)) == "adaptive.tolerance")
        #expect(path(GradientLimit.Configuration(smoothing: 0)) == "adaptive.smoothing")
        #expect(path(GradientLimit.Configuration(backoffRatio: 1)) == "adaptive.backoffRatio")
        #expect(path(GradientLimit.Configuration(samplesPerUpdate: 0)) == "adaptive.samplesPerUpdate")
        #expect(throws: ConfigurationError(path: "fixed", value: "0", reason: "is not >= 1")) {
            try ConcurrencyLimitPolicy.fixed(0).validate()
        }
    }
}
