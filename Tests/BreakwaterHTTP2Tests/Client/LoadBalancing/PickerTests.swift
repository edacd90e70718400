import BreakwaterCore
import BreakwaterTestSupport
import Testing
@testable import BreakwaterHTTP2

/// The load-balancing picks as a value: which usable subchannel each call gets.
@Suite struct PickerTests {

    @Test func pickFirstAlwaysTakesTheFirstUsable() {
        var random = SeededRandom(seed: 7)
        var picker = Picker(policy: .pickFirst)
        let v1 = picker.pick(outstanding: { _ in 0 }, random: &random)
        #expect(v1 == nil)
        picker.update(usable: [1, 2])
        for _ in 0..<5 {
            let picked = picker.pick(outstanding: { _ in 0 }, random: &random)
            #expect(picked == 1)
        }
        picker.update(usable: [0, 1, 2])
        let v2 = picker.pick(outstanding: { _ in 0 }, random: &random)
        #expect(v2 == 0)
    }

    @Test func roundRobinTakesEachInTurnAndGoesOnAfterAnUpdate() {
        var random = SeededRandom(seed: 7)
        var picker = Picker(policy: .roundRobin)
        picker.update(usable: [0, 1, 2])
        let picks = (0..<6).map { _ in picker.pick(outstanding: { _ in 0 }, random: &random) }
        #expect(picks == [0, 1, 2, 0, 1, 2])
        _ = picker.pick(outstanding: { _ in 0 }, random: &random)  // 0
        picker.update(usable: [0, 2])  // 1 left: the cursor (at 1) now points at 2
        let after = (0..<3).map { _ in picker.pick(outstanding: { _ in 0 }, random: &random) }
        #expect(after == [2, 0, 2])
    }

    @Test func roundRobinSpreadsEvenly() {
        var random = SeededRandom(seed: 7)
        var picker = Picker(policy: .roundRobin)
        picker.update(usable: Array(0..<100))
        var counts = [Int](repeating: 0, count: 100)
        for _ in 0..<10_000 { counts[picker.pick(outstanding: { _ in 0 }, random: &random)!] += 1 }
        #expect(counts.allSatisfy { $0 == 100 })
    }

    @Test func leastRequestPrefersTheLessLoadedOfTwo() {
        var random = SeededRandom(seed: 7)
        var picker = Picker(policy: .leastRequest(choiceCount: 2))
        picker.update(usable: [0, 1])
        // Subchannel 1 has 10 calls in flight: a pick takes 0 unless both samples were 1 (1 in 4).
        var counts = [0, 0]
        for _ in 0..<4000 { counts[picker.pick(outstanding: { $0 == 1 ? 10 : 0 }, random: &random)!] += 1 }
        #expect(counts[0] > 2700 && counts[0] < 3300, "\(counts)")
        // Equal loads: both are taken.
        counts = [0, 0]
        for _ in 0..<4000 { counts[picker.pick(outstanding: { _ in 3 }, random: &random)!] += 1 }
        #expect(counts.allSatisfy { $0 > 1000 }, "\(counts)")
    }
}
