/// The deadlines of an in-process transport's open streams, and when the one task that enforces them all
/// must wake. A plain value: the hub keeps it under its lock and does what its transitions return.
///
/// One task per transport, not one per stream: a task that sleeps until its stream's deadline costs a
/// task, a timer and a dozen allocations per call, about as much as the rest of an in-process call. Here a
/// stream with a deadline costs a dictionary entry and a heap push, and the task wakes at the earliest
/// deadline that is still pending (with calls that share one timeout, about once per timeout).
///
/// The heap is lazy: a stream that ends leaves its entry there, dropped when it reaches the top or when
/// stale entries outnumber live ones (then the heap is rebuilt from the live ones, so it stays within
/// twice the open streams).
struct InProcessDeadlineQueue {
    /// The open streams' deadlines by stream id (ids are never reused).
    private var live: [Int: ContinuousClock.Instant] = [:]
    /// Min-heap on the deadline; may hold entries of streams that ended.
    private var heap: [(deadline: ContinuousClock.Instant, id: Int)] = []
    /// When the enforcing task wakes: the earliest pending deadline as of its last wake or of the
    /// earliest stream armed since; `nil` when there is no task (none is needed).
    private(set) var wakeAt: ContinuousClock.Instant?

    /// Streams whose deadline is pending.
    var count: Int { live.count }

    /// Entries in the heap, stale ones included (for tests of its bound).
    var storedEntries: Int { heap.count }

    /// Records stream `id`'s deadline. Returns true when the enforcing task must be (re)started to wake at
    /// `deadline`: there is none, or it sleeps until later.
    mutating func arm(_ id: Int, at deadline: ContinuousClock.Instant) -> Bool {
        live[id] = deadline
        push((deadline, id))
        if heap.count > 2 * live.count + 64 { rebuild() }
        if let wakeAt, wakeAt <= deadline { return false }
        wakeAt = deadline
        return true
    }

    /// Forgets stream `id`'s deadline (the stream ended).
    mutating func disarm(_ id: Int) {
        live.removeValue(forKey: id)
    }

    /// The streams whose deadline is at or before `now`, forgotten; `wakeAt` becomes the earliest deadline
    /// still pending (`nil`: none, the enforcing task may end).
    mutating func expire(now: ContinuousClock.Instant) -> [Int] {
        var expired: [Int] = []
        while let top = heap.first {
            if live[top.id] == nil {
                pop()  // a stream that ended
            } else if top.deadline <= now {
                pop()
                live.removeValue(forKey: top.id)
                expired.append(top.id)
            } else {
                break
            }
        }
        wakeAt = heap.first?.deadline
        if wakeAt == nil { heap = [] }
        return expired
    }

    // MARK: The heap

    private mutating func rebuild() {
        heap = live.map { (deadline: $0.value, id: $0.key) }
        guard heap.count > 1 else { return }
        for index in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(from: index) }
    }

    private mutating func push(_ entry: (deadline: ContinuousClock.Instant, id: Int)) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadline < heap[parent].deadline else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func pop() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        siftDown(from: 0)
    }

    private mutating func siftDown(from start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { return }
            var smallest = left
            if left + 1 < heap.count, heap[left + 1].deadline < heap[left].deadline { smallest = left + 1 }
            guard heap[smallest].deadline < heap[parent].deadline else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
