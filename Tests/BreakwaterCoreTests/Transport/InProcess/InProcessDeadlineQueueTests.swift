@testable import BreakwaterCore
import Testing

/// The in-process transport's deadline bookkeeping, on instants given by the test (no clock runs).
@Suite("InProcessDeadlineQueue")
struct InProcessDeadlineQueueTests {
    let t0 = ContinuousClock.now

    func at(_ milliseconds: Int) -> ContinuousClock.Instant { t0 + .milliseconds(milliseconds) }

    // (`#expect` cannot take a mutating call.)
    func arm(_ queue: inout InProcessDeadlineQueue, _ id: Int, at deadline: ContinuousClock.Instant) -> Bool {
        queue.arm(id, at: deadline)
    }

    func expire(_ queue: inout InProcessDeadlineQueue, _ now: ContinuousClock.Instant) -> [Int] {
        queue.expire(now: now)
    }

    @Test func aKeeperIsNeededForTheFirstDeadlineAndForAnEarlierOneOnly() {
        var queue = InProcessDeadlineQueue()
        #expect(arm(&queue, 1, at: at(100)))
        #expect(queue.wakeAt == at(100))
        #expect(!arm(&queue, 2, at: at(200)))
        #expect(!arm(&queue, 3, at: at(100)))
        #expect(queue.wakeAt == at(100))
        #expect(arm(&queue, 4, at: at(50)))
        #expect(queue.wakeAt == at(50))
        #expect(queue.count == 4)
    }

    @Test func expireTakesThePassedDeadlinesAndWakesForTheNextPendingOne() {
        var queue = InProcessDeadlineQueue()
        _ = queue.arm(1, at: at(30))
        _ = queue.arm(2, at: at(10))
        _ = queue.arm(3, at: at(20))
        _ = queue.arm(4, at: at(40))
        #expect(expire(&queue, at(5)).isEmpty)
        #expect(queue.wakeAt == at(10))
        #expect(expire(&queue, at(25)) == [2, 3])
        #expect(queue.wakeAt == at(30))
        #expect(queue.count == 2)
        #expect(expire(&queue, at(100)) == [1, 4])
        #expect(queue.wakeAt == nil)
        #expect(queue.count == 0)
    }

    @Test func anEndedStreamIsNeverExpiredAndTheWakeUpSkipsIt() {
        var queue = InProcessDeadlineQueue()
        _ = queue.arm(1, at: at(10))
        _ = queue.arm(2, at: at(20))
        queue.disarm(1)
        // The keeper still wakes at 10 ms (it was told so); it finds nothing and sleeps until 20 ms.
        #expect(queue.wakeAt == at(10))
        #expect(expire(&queue, at(10)).isEmpty)
        #expect(queue.wakeAt == at(20))
        queue.disarm(2)
        #expect(expire(&queue, at(20)).isEmpty)
        #expect(queue.wakeAt == nil)
    }

    @Test func endedStreamsDoNotPileUpInTheHeap() {
        var queue = InProcessDeadlineQueue()
        // Calls one after another, each with a 30 s deadline, each ended long before it: the keeper never
        // wakes, so only the rebuild bounds the stale entries.
        for id in 1...10_000 {
            _ = queue.arm(id, at: at(30_000 + id))
            #expect(queue.storedEntries <= 2 * queue.count + 64)
            queue.disarm(id)
        }
        _ = queue.arm(10_001, at: at(40_000))
        #expect(expire(&queue, at(39_999)).isEmpty)
        #expect(queue.wakeAt == at(40_000))
        #expect(expire(&queue, at(40_000)) == [10_001])
    }

    @Test func manyDeadlinesInRandomOrderExpireInDeadlineOrder() {
        var queue = InProcessDeadlineQueue()
        var generator = SystemRandomNumberGenerator()
        let deadlines = (1...500).map { ($0, Int.random(in: 0..<1_000, using: &generator)) }
        for (id, ms) in deadlines.shuffled() { _ = queue.arm(id, at: at(ms)) }
        var expired: [Int] = []
        for now in stride(from: 0, through: 1_001, by: 7) { expired += queue.expire(now: at(now)) }
        #expect(Set(expired) == Set(deadlines.map(\.0)))
        let order = expired.map { id in deadlines.first { $0.0 == id }!.1 / 7 }
        #expect(order == order.sorted())
    }
}
