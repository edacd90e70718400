import Testing
@testable import BreakwaterHTTP2

@Suite struct TimerHeapTests {
    @Test func popsInDeadlineOrderAndSkipsCancelled() {
        var heap = TimerHeap<Int>()
        let base = ContinuousClock.now
        let a = heap.schedule(at: base.advanced(by: .milliseconds(30)), 3)
        _ = heap.schedule(at: base.advanced(by: .milliseconds(10)), 1)
        _ = heap.schedule(at: base.advanced(by: .milliseconds(20)), 2)
        let d = heap.schedule(at: base.advanced(by: .milliseconds(5)), 0)
        heap.cancel(d)
        #expect(heap.nextDeadline() == base.advanced(by: .milliseconds(10)))
        #expect(heap.popDue(now: base) == nil)
        let later = base.advanced(by: .milliseconds(25))
        #expect(heap.popDue(now: later) == 1)
        #expect(heap.popDue(now: later) == 2)
        #expect(heap.popDue(now: later) == nil)
        heap.cancel(a)
        #expect(heap.nextDeadline() == nil)
        #expect(heap.count == 0)
    }

    @Test func compactsWhenMostTimersAreCancelled() {
        var heap = TimerHeap<Int>()
        let base = ContinuousClock.now
        var ids: [UInt64] = []
        for i in 0..<5000 { ids.append(heap.schedule(at: base.advanced(by: .milliseconds(5000 - i)), i)) }
        for (i, id) in ids.enumerated() where i % 10 != 0 { heap.cancel(id) }
        #expect(heap.count == 500)
        var last = -1
        var popped: [Int] = []
        while let value = heap.popDue(now: base.advanced(by: .seconds(10))) {
            popped.append(value)
            #expect(value % 10 == 0)
            if last >= 0 { #expect(value < last) }
            last = value
        }
        #expect(popped.count == 500)
    }

    /// A loop waiting for I/O wakes for its earliest live timer, or for the one cancelled last while it is
    /// still ahead, so that the next call's timer with the same timeout needs no wake-up of its own.
    @Test func wakeUpTimeCountsTheTimerCancelledLastWhileItIsAhead() {
        var heap = TimerHeap<Int>()
        let base = ContinuousClock.now
        #expect(heap.wakeUpTime(now: base) == nil)
        let first = heap.schedule(at: base.advanced(by: .seconds(1)), 1)
        #expect(heap.wakeUpTime(now: base) == base.advanced(by: .seconds(1)))
        heap.cancel(first)
        // No live timer: the cancelled one's deadline, until it passes.
        #expect(heap.wakeUpTime(now: base) == base.advanced(by: .seconds(1)))
        // A later live timer: the cancelled deadline is still the earlier.
        let second = heap.schedule(at: base.advanced(by: .seconds(2)), 2)
        #expect(heap.wakeUpTime(now: base) == base.advanced(by: .seconds(1)))
        // An earlier live timer wins.
        let third = heap.schedule(at: base.advanced(by: .milliseconds(500)), 3)
        #expect(heap.wakeUpTime(now: base) == base.advanced(by: .milliseconds(500)))
        heap.cancel(third)
        // The cancelled one last is now the 500 ms one.
        #expect(heap.wakeUpTime(now: base) == base.advanced(by: .milliseconds(500)))
        // Once it has passed, only the live timer counts, and the cancelled one is forgotten.
        #expect(heap.wakeUpTime(now: base.advanced(by: .milliseconds(600))) == base.advanced(by: .seconds(2)))
        heap.cancel(second)
        #expect(heap.wakeUpTime(now: base.advanced(by: .milliseconds(600))) == base.advanced(by: .seconds(2)))
        #expect(heap.wakeUpTime(now: base.advanced(by: .seconds(3))) == nil)
    }
}
