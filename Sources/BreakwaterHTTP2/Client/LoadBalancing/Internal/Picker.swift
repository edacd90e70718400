import BreakwaterCore

/// The load-balancing choice as a plain value: the usable subchannels (ready and not ejected, in
/// resolution order) and the policy's pick among them in O(1). The list is rebuilt by the balancer
/// when a subchannel's state or ejection changes, never per call.
struct Picker: Sendable {
    let policy: LoadBalancingConfig.Policy
    /// Usable subchannels, as indices into the balancer's list, in resolution order.
    private(set) var usable: [Int] = []
    private var cursor = 0

    init(policy: LoadBalancingConfig.Policy) {
        self.policy = policy
    }

    /// Replaces the usable list. Round robin goes on from where it was (modulo the new count).
    mutating func update(usable: [Int]) {
        self.usable = usable
        if !usable.isEmpty { cursor %= usable.count } else { cursor = 0 }
    }

    /// The index of the subchannel for the next call, or nil when none is usable. `outstanding` answers the
    /// calls in flight on an index (least_request).
    mutating func pick(outstanding: (Int) -> Int, random: inout some RandomNumberGenerator) -> Int? {
        guard !usable.isEmpty else { return nil }
        switch policy {
        case .pickFirst:
            return usable[0]
        case .roundRobin:
            let index = usable[cursor]
            cursor += 1
            if cursor == usable.count { cursor = 0 }
            return index
        case .leastRequest(let choiceCount):
            var best = usable[Int.random(in: 0..<usable.count, using: &random)]
            var bestLoad = outstanding(best)
            for _ in 1..<max(choiceCount, 2) {
                let candidate = usable[Int.random(in: 0..<usable.count, using: &random)]
                let load = outstanding(candidate)
                if load < bestLoad {
                    best = candidate
                    bestLoad = load
                }
            }
            return best
        }
    }
}
