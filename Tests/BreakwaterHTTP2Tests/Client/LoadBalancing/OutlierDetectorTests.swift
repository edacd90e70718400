import BreakwaterCore
import BreakwaterTestSupport
import Testing
@testable import BreakwaterHTTP2

/// Per-endpoint ejection as a value: outcomes and instants in, ejections and returns out.
@Suite struct OutlierDetectorTests {
    let t0 = ContinuousClock.now

    func detector(_ policy: OutlierDetectionPolicy, ids: Range<Int> = 0..<3) -> OutlierDetector {
        var detector = OutlierDetector(policy: policy)
        for id in ids { detector.add(id) }
        return detector
    }

    @Test func consecutiveFailuresEjectAndSuccessesResetTheCount() {
        var d = detector(OutlierDetectionPolicy(baseEjectionTime: .seconds(30), maxEjectionPercent: 50, consecutiveFailures: 3))
        let v1 = d.record(0, code: .unavailable, now: t0)
        #expect(v1 == nil)
        let v2 = d.record(0, code: .unavailable, now: t0)
        #expect(v2 == nil)
        let v3 = d.record(0, code: .ok, now: t0)
        #expect(v3 == nil)
        let v4 = d.record(0, code: .notFound, now: t0)
        #expect(v4 == nil, "request-shaped codes are successes")
        let v5 = d.record(0, code: .cancelled, now: t0)
        #expect(v5 == nil, "neutral")
        let v6 = d.record(0, code: .unavailable, now: t0)
        #expect(v6 == nil)
        let v7 = d.record(0, code: .deadlineExceeded, now: t0)
        #expect(v7 == nil)
        let v8 = d.record(0, code: .internalError, now: t0)
        #expect(v8 == .ejected(id: 0, until: t0 + .seconds(30), reason: "3 consecutive failures"))
        #expect(d.isEjected(0))
        let v9 = d.record(0, code: .unavailable, now: t0)
        #expect(v9 == nil, "already ejected")
    }

    @Test func anEjectedEndpointReturnsAfterItsTimeAndTheNextEjectionLastsLonger() {
        var random = SeededRandom(seed: 3)
        var d = detector(OutlierDetectionPolicy(interval: .seconds(10), baseEjectionTime: .seconds(30), maxEjectionTime: .seconds(300), maxEjectionPercent: 50, consecutiveFailures: 1))
        let v10 = d.record(1, code: .unavailable, now: t0)
        #expect(v10 == .ejected(id: 1, until: t0 + .seconds(30), reason: "1 consecutive failures"))
        #expect(d.nextReturn == t0 + .seconds(30))
        let v11 = d.returnsDue(now: t0 + .seconds(29))
        #expect(v11.isEmpty)
        let v12 = d.returnsDue(now: t0 + .seconds(30))
        #expect(v12 == [.returned(id: 1)])
        #expect(!d.isEjected(1))
        // Ejected again before any interval passed: twice the base time.
        let v13 = d.record(1, code: .unavailable, now: t0 + .seconds(31))
        #expect(v13 == .ejected(id: 1, until: t0 + .seconds(91), reason: "1 consecutive failures"))
        let v14 = d.returnsDue(now: t0 + .seconds(91))
        #expect(v14 == [.returned(id: 1)])
        // Two intervals in without an ejection: the count decays back to zero.
        _ = d.intervalElapsed(now: t0 + .seconds(100), random: &random)
        _ = d.intervalElapsed(now: t0 + .seconds(110), random: &random)
        #expect(d.stats[1]?.ejections == 0)
        let v15 = d.record(1, code: .unavailable, now: t0 + .seconds(120))
        #expect(v15 == .ejected(id: 1, until: t0 + .seconds(150), reason: "1 consecutive failures"))
    }

    @Test func theEjectionTimeIsCappedByTheMaximum() {
        var d = detector(OutlierDetectionPolicy(baseEjectionTime: .seconds(30), maxEjectionTime: .seconds(50), maxEjectionPercent: 100, consecutiveFailures: 1))
        var now = t0
        for expected in [30, 50, 50] {
            let v16 = d.record(0, code: .unavailable, now: now)
            #expect(v16 == .ejected(id: 0, until: now + .seconds(expected), reason: "1 consecutive failures"))
            now = now + .seconds(expected)
            let v17 = d.returnsDue(now: now)
            #expect(v17 == [.returned(id: 0)])
        }
    }

    @Test func theMaximumEjectionPercentLimitsEjectionsButOneIsAlwaysAllowed() {
        // 10% of 3 is less than one endpoint: one may still be ejected, a second not.
        var d = detector(OutlierDetectionPolicy(maxEjectionPercent: 10, consecutiveFailures: 1))
        let v18 = d.record(0, code: .unavailable, now: t0)
        #expect(v18 != nil)
        let v19 = d.record(1, code: .unavailable, now: t0)
        #expect(v19 == nil)
        let v20 = d.record(2, code: .unavailable, now: t0)
        #expect(v20 == nil)
        #expect(d.ejectedCount == 1)
        // 67%: two of three.
        var e = detector(OutlierDetectionPolicy(maxEjectionPercent: 67, consecutiveFailures: 1))
        let v21 = e.record(0, code: .unavailable, now: t0)
        #expect(v21 != nil)
        let v22 = e.record(1, code: .unavailable, now: t0)
        #expect(v22 != nil)
        let v23 = e.record(2, code: .unavailable, now: t0)
        #expect(v23 == nil, "never all three")
    }

    @Test func failurePercentageEjectsAtTheIntervalWhenEnoughHostsHadEnoughCalls() {
        var random = SeededRandom(seed: 3)
        let rule = OutlierDetectionPolicy.FailurePercentage(threshold: 50, minimumHosts: 3, requestVolume: 10)
        var d = detector(OutlierDetectionPolicy(maxEjectionPercent: 50, consecutiveFailures: nil, failurePercentage: rule))
        // Endpoint 2 fails 6 of 10; the others succeed.
        for id in 0..<2 { for _ in 0..<10 { _ = d.record(id, code: .ok, now: t0) } }
        for i in 0..<10 { _ = d.record(2, code: i < 6 ? .unavailable : .ok, now: t0) }
        #expect(d.stats[2]?.recentFailureRate == 0.6)
        let events = d.intervalElapsed(now: t0 + .seconds(10), random: &random)
        #expect(events == [.ejected(id: 2, until: t0 + .seconds(40), reason: "60% of 10 calls failed")])
        // Too few hosts with enough calls: no ejection.
        var few = detector(OutlierDetectionPolicy(maxEjectionPercent: 50, consecutiveFailures: nil, failurePercentage: rule))
        for _ in 0..<10 { _ = few.record(0, code: .unavailable, now: t0) }
        let v24 = few.intervalElapsed(now: t0 + .seconds(10), random: &random)
        #expect(v24.isEmpty)
    }

    @Test func aRemovedEndpointLeavesTheCounts() {
        var d = detector(OutlierDetectionPolicy(maxEjectionPercent: 10, consecutiveFailures: 1))
        let v25 = d.record(0, code: .unavailable, now: t0)
        #expect(v25 != nil)
        d.remove(0)
        #expect(d.ejectedCount == 0)
        let v26 = d.record(1, code: .unavailable, now: t0)
        #expect(v26 != nil, "the removed endpoint's ejection no longer counts")
    }
}
