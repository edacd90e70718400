/// The counts behind the rate rules: counted calls, failures and slow calls over the last `n`
/// calls or the last stretch of time. Storage is allocated once; recording allocates nothing.
struct SlidingWindow<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    private struct Bucket: Sendable {
        var epoch: Int64 = .min
        var calls = 0
        var failures = 0
        var slowCalls = 0
    }

    private static var bucketCount: Int { 10 }

    private enum Storage: Sendable {
        /// Each entry: bit 0 failure, bit 1 slow.
        case count(ring: [UInt8], next: Int, filled: Int)
        case time(buckets: [Bucket], width: Duration, origin: Instant?)
    }

    private var storage: Storage
    private(set) var calls = 0
    private(set) var failures = 0
    private(set) var slowCalls = 0

    init(_ window: CircuitBreakerPolicy.SlidingWindow) {
        switch window {
        case .count(let n):
            storage = .count(ring: [UInt8](repeating: 0, count: max(n, 1)), next: 0, filled: 0)
        case .time(let d):
            let buckets = [Bucket](repeating: Bucket(), count: Self.bucketCount)
            storage = .time(buckets: buckets, width: d / Self.bucketCount, origin: nil)
        }
    }

    /// Adds one counted call.
    mutating func record(failure: Bool, slow: Bool, at now: Instant) {
        switch storage {
        case .count(var ring, var next, var filled):
            storage = .count(ring: [], next: 0, filled: 0)  // keep `ring` uniquely referenced
            if filled == ring.count {
                remove(flags: ring[next])
            } else {
                filled += 1
            }
            let flags: UInt8 = (failure ? 1 : 0) | (slow ? 2 : 0)
            ring[next] = flags
            add(flags: flags)
            next = (next + 1) % ring.count
            storage = .count(ring: ring, next: next, filled: filled)
        case .time(var buckets, let width, var origin):
            storage = .count(ring: [], next: 0, filled: 0)
            if origin == nil { origin = now }
            let epoch = Self.epoch(of: now, origin: origin!, width: width)
            evict(&buckets, olderThan: epoch)
            let slot = Int(epoch % Int64(buckets.count))
            if buckets[slot].epoch != epoch {
                buckets[slot] = Bucket(epoch: epoch)
            }
            buckets[slot].calls += 1
            buckets[slot].failures += failure ? 1 : 0
            buckets[slot].slowCalls += slow ? 1 : 0
            add(flags: (failure ? 1 : 0) | (slow ? 2 : 0))
            storage = .time(buckets: buckets, width: width, origin: origin)
        }
    }

    /// Drops calls that have aged out of a time window by `now`; a count window does not age.
    mutating func advance(to now: Instant) {
        guard case .time(var buckets, let width, let origin?) = storage else { return }
        storage = .count(ring: [], next: 0, filled: 0)
        evict(&buckets, olderThan: Self.epoch(of: now, origin: origin, width: width))
        storage = .time(buckets: buckets, width: width, origin: origin)
    }

    /// Forgets every call.
    mutating func reset() {
        calls = 0
        failures = 0
        slowCalls = 0
        switch storage {
        case .count(var ring, _, _):
            storage = .count(ring: [], next: 0, filled: 0)
            for i in ring.indices { ring[i] = 0 }
            storage = .count(ring: ring, next: 0, filled: 0)
        case .time(var buckets, let width, _):
            storage = .count(ring: [], next: 0, filled: 0)
            for i in buckets.indices { buckets[i] = Bucket() }
            storage = .time(buckets: buckets, width: width, origin: nil)
        }
    }

    private static func epoch(of now: Instant, origin: Instant, width: Duration) -> Int64 {
        let elapsed = origin.duration(to: now)
        guard elapsed > .zero else { return 0 }
        return Int64(elapsed / width)
    }

    private mutating func evict(_ buckets: inout [Bucket], olderThan epoch: Int64) {
        let oldest = epoch - Int64(buckets.count) + 1
        for i in buckets.indices where buckets[i].epoch != .min && buckets[i].epoch < oldest {
            calls -= buckets[i].calls
            failures -= buckets[i].failures
            slowCalls -= buckets[i].slowCalls
            buckets[i] = Bucket()
        }
    }

    private mutating func add(flags: UInt8) {
        calls += 1
        failures += Int(flags & 1)
        slowCalls += Int((flags >> 1) & 1)
    }

    private mutating func remove(flags: UInt8) {
        calls -= 1
        failures -= Int(flags & 1)
        slowCalls -= Int((flags >> 1) & 1)
    }
}
