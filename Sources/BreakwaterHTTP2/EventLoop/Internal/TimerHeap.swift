/// A min-heap of timers keyed by deadline, with O(1) cancellation (cancelled entries are skipped when
/// they reach the top). Owned by one event loop; not thread-safe.
struct TimerHeap<Payload> {
    private struct Entry {
        var deadline: ContinuousClock.Instant
        var id: UInt64
    }

    private var heap: [Entry] = []
    private var payloads: [UInt64: (deadline: ContinuousClock.Instant, payload: Payload)] = [:]
    private var nextID: UInt64 = 1
    /// The deadline of the timer cancelled last (see `wakeUpTime`).
    private var lastCancelled: ContinuousClock.Instant?

    /// The number of live (not cancelled) timers.
    var count: Int { payloads.count }

    /// Adds a timer; returns its id.
    mutating func schedule(at deadline: ContinuousClock.Instant, _ payload: Payload) -> UInt64 {
        let id = nextID
        nextID &+= 1
        payloads[id] = (deadline, payload)
        heap.append(Entry(deadline: deadline, id: id))
        siftUp(heap.count - 1)
        return id
    }

    /// Cancels a timer; a no-op for unknown or fired ids.
    mutating func cancel(_ id: UInt64) {
        guard let (deadline, _) = payloads.removeValue(forKey: id) else { return }
        lastCancelled = deadline
        if payloads.isEmpty {
            heap.removeAll(keepingCapacity: true)
        } else if heap.count > 1024 && heap.count > 4 * payloads.count {
            // Most entries are cancelled (calls that ended well before their deadline): rebuild.
            heap.removeAll { payloads[$0.id] == nil }
            for i in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(i) }
        }
    }

    /// The earliest live deadline.
    mutating func nextDeadline() -> ContinuousClock.Instant? {
        dropCancelledTop()
        return heap.first?.deadline
    }

    /// Removes and returns the earliest live timer due at or before `now`.
    mutating func popDue(now: ContinuousClock.Instant) -> Payload? {
        dropCancelledTop()
        guard let top = heap.first, top.deadline <= now else { return nil }
        removeTop()
        return payloads.removeValue(forKey: top.id)?.payload
    }

    /// When a loop waiting for I/O should wake for its timers, at the latest: the earliest live deadline,
    /// or, when that is later or there is none, the deadline of the timer cancelled last while it is still
    /// ahead (nil: no need to wake).
    ///
    /// Why a cancelled timer counts: a thread that stands in for the sleeping loop wakes it only for a new
    /// timer earlier than this. Calls that each arm a deadline timer and end before it (most calls with a
    /// timeout) cancel theirs, and the next call's timer, with the same timeout, lies after the cancelled
    /// one: the loop need not be woken for it. The price is at most one early wake-up per timeout.
    mutating func wakeUpTime(now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        if let cancelled = lastCancelled, cancelled <= now { lastCancelled = nil }
        switch (nextDeadline(), lastCancelled) {
        case (let live?, let cancelled?): return min(live, cancelled)
        case (let live?, nil): return live
        case (nil, let cancelled): return cancelled
        }
    }

    private mutating func dropCancelledTop() {
        while let top = heap.first, payloads[top.id] == nil { removeTop() }
    }

    private mutating func removeTop() {
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            siftDown(0)
        }
    }

    private mutating func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadline < heap[parent].deadline else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ index: Int) {
        var parent = index
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].deadline < heap[smallest].deadline { smallest = left }
            if right < heap.count && heap[right].deadline < heap[smallest].deadline { smallest = right }
            if smallest == parent { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
