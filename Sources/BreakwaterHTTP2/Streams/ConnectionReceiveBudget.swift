import Synchronization

/// What all streams of one connection hold for their readers: bytes received into streams (messages
/// still arriving, and whole messages not yet taken), against `limit`. The loop adds, readers' threads
/// take; the counters are atomic. When a stream is held back because the connection is over its limit,
/// the first take that brings it back under asks the loop to release the held-back streams.
final class ConnectionReceiveBudget: @unchecked Sendable {
    // Safety: the counters are atomic; `waiters` is touched only on `loop`'s thread (the release that a
    // reader triggers is queued to the loop).

    let limit: Int
    let loop: EventLoop
    /// Streams holding back received bytes until the budget has room (by stream id). No reference to the
    /// connection or session: a weak one would put their reference counts in a side table, which makes
    /// every retain and release of them slow.
    @exclusivity(unchecked) private var waiters: [Int32: any ReceiveBudgetWaiter] = [:]
    /// Bytes received into streams and not yet taken or dropped.
    private let held = Atomic<Int>(0)
    /// Of those, bytes of whole messages waiting for a reader (which a reader can free).
    private let queued = Atomic<Int>(0)
    private let releaseWanted = Atomic<Bool>(false)

    init(limit: Int, loop: EventLoop) {
        self.limit = limit
        self.loop = loop
    }

    var heldBytes: Int { held.load(ordering: .relaxed) }
    var isOver: Bool { held.load(ordering: .relaxed) > limit }
    /// Whether some reader could free bytes by taking a message.
    var readersCanFree: Bool { queued.load(ordering: .relaxed) > 0 }

    /// Loop: `bytes` arrived for a stream.
    func received(_ bytes: Int) {
        held.wrappingAdd(bytes, ordering: .relaxed)
    }

    /// Loop: `bytes` of what arrived became a whole message waiting for its reader.
    func queuedMessage(_ bytes: Int) {
        queued.wrappingAdd(bytes, ordering: .relaxed)
    }

    /// Loop: a stream holds back received bytes because the connection is over its limit.
    func wantRelease() {
        releaseWanted.store(true, ordering: .relaxed)
    }

    /// A reader took a message of `bytes`, or a stream dropped `held` bytes of which `queued` were whole
    /// messages. Releases held-back streams when this brings the connection back under its limit.
    func release(held bytes: Int, queued whole: Int) {
        guard bytes > 0 else { return }
        if whole > 0 { queued.wrappingSubtract(whole, ordering: .relaxed) }
        let now = held.wrappingSubtract(bytes, ordering: .relaxed).newValue
        // A load first: this runs for every message taken, and an exchange would write the flag's cache
        // line (shared with the loop) each time.
        if now <= limit && releaseWanted.load(ordering: .relaxed) && releaseWanted.exchange(false, ordering: .relaxed) {
            loop.executeOrRun { [self] in releaseWaiters() }
        }
    }

    // MARK: Waiting streams (loop thread)

    /// `waiter` (stream `streamID`) holds back received bytes until `releaseWaiters`.
    func addWaiter(_ streamID: Int32, _ waiter: any ReceiveBudgetWaiter) {
        waiters[streamID] = waiter
        wantRelease()
        // A reader may have freed room between the check and the wish: look again.
        if !isOver { releaseWaiters() }
    }

    /// The stream no longer waits (it ended).
    func removeWaiter(_ streamID: Int32) {
        waiters[streamID] = nil
    }

    /// The budget has room again: every waiting stream consumes what it held back.
    func releaseWaiters() {
        guard !waiters.isEmpty else { return }
        let waiting = waiters
        waiters.removeAll()
        for waiter in waiting.values { waiter.connectionBudgetReleased() }
    }
}
