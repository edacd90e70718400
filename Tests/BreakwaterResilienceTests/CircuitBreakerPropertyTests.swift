import BreakwaterCore
import BreakwaterTestSupport
import Testing

@testable import BreakwaterResilience

@Suite("Circuit breaker properties")
struct CircuitBreakerPropertyTests {
    /// Random interleavings of admissions, outcomes (some late, from older generations), time and
    /// operator-free runs: the probe bound holds at every step and the breaker never closes without
    /// `successThreshold` successful probes of the closing round, and never right after a failure.
    @Test("random outcome sequences keep the probe bound and the close rule", arguments: 0..<200)
    func randomSequences(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        let probes = Int.random(in: 1...4, using: &rng)
        let threshold = Int.random(in: 1...4, using: &rng)
        let lease = Duration.seconds(Int.random(in: 5...30, using: &rng))
        let policy = CircuitBreakerPolicy(
            consecutiveFailures: Int.random(in: 1...5, using: &rng),
            failureRateThreshold: Bool.random(using: &rng) ? 0.5 : nil,
            slidingWindow: .count(10), minimumCalls: 5,
            openDuration: .seconds(10), halfOpenProbes: probes, successThreshold: threshold, probeLease: lease
        )
        var machine = Machine(policy: policy, random: { 0.5 })
        var now = Instant(offset: .zero)
        var outstanding: [Machine.Permit] = []
        var successesByGeneration: [UInt64: Int] = [:]

        for step in 0..<600 {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<4:
                let before = machine.state
                let (decision, transition) = machine.acquire(at: now)
                if let transition { #expect(transition.from == .open && transition.to == .halfOpen) }
                if case .admitted(let permit) = decision {
                    #expect(permit.isProbe == (machine.state == .halfOpen))
                    outstanding.append(permit)
                } else {
                    #expect(before != .closed)
                }
            case 4..<8 where !outstanding.isEmpty:
                let permit = outstanding.remove(at: Int.random(in: 0..<outstanding.count, using: &rng))
                let outcome: CallOutcome = [.success, .success, .failure, .neutral].randomElement(using: &rng)!
                let stateBefore = machine.state
                let generationBefore = machine.generation
                let transition = machine.record(outcome, for: permit, at: now)
                if outcome == .success, permit.isProbe, permit.generation == generationBefore {
                    successesByGeneration[permit.generation, default: 0] += 1
                }
                if let transition, transition.to == .closed {
                    #expect(stateBefore == .halfOpen, "seed \(seed) step \(step)")
                    #expect(outcome == .success, "seed \(seed) step \(step)")
                    #expect(
                        successesByGeneration[generationBefore, default: 0] >= threshold,
                        "seed \(seed) step \(step): closed without \(threshold) probe successes"
                    )
                }
                if permit.generation != generationBefore { #expect(transition == nil) }
            default:
                now = now.advanced(by: .seconds(Int.random(in: 0...6, using: &rng)))
            }
            // The bound: unexpired probes of the current generation never exceed halfOpenProbes.
            let live = outstanding.count {
                $0.isProbe && $0.generation == machine.generation && $0.admittedAt.advanced(by: lease) > now
            }
            #expect(live <= probes, "seed \(seed) step \(step): \(live) probes in flight")
            #expect(machine.snapshot(key: BreakerKey(name: "p"), at: now).probesInFlight <= probes)
        }
    }
}
