/// The inbound side of one stream as its reader sees it, client or server: items in order, each with the
/// wire bytes it holds, then an end that every later take sees again; at most one reader suspended. Kept
/// under the stream's lock: the loop pushes, the reader takes, and neither waits for the other.
///
/// It also keeps the stream's `InboundWindow`, so that a take can say when the loop should return held
/// back bytes to the peer.
struct InboundMailbox<Item: Sendable, End: Sendable>: Sendable {
    /// What a reader gets: an item, or word that the end has come (read it from `end`). The end stays
    /// out of this enum on purpose: a single-payload enum moves through a continuation as cheaply as an
    /// optional, where one carrying a status and its metadata goes through slow generic copies.
    enum Next: Sendable {
        case item(Item)
        case end
    }

    typealias Waiter = UnsafeContinuation<Next, Never>

    private var items = SmallQueue<(Item, Int)>()
    private(set) var end: End?
    private var waiter: Waiter?
    private(set) var window: InboundWindow

    init(bufferLimit: Int) {
        window = InboundWindow(limit: bufferLimit)
    }

    /// Whether the stream is behind: received bytes must wait for the reader.
    var isBehind: Bool { window.kickWanted }
    /// Whether no item is waiting.
    var isEmpty: Bool { items.isEmpty }

    /// Queues `item` of `wireBytes`, unless the inbound side has ended (then `accepted` is false and the
    /// caller drops it). Returns the reader to resume with the next value, if one waits.
    mutating func push(_ item: Item, wireBytes: Int) -> (accepted: Bool, reader: (Waiter, Next)?) {
        guard pushQuietly(item, wireBytes: wireBytes) else { return (false, nil) }
        return (true, wakeReader())
    }

    /// Queues `item` of `wireBytes` as `push` does, but leaves a waiting reader waiting: the caller wakes it
    /// with `wake()` once it has queued everything at hand, so that one wake-up hands over a batch. (A
    /// reader that is not waiting finds the item with its next take.) Returns false when the inbound side
    /// has ended and the caller must drop the item.
    mutating func pushQuietly(_ item: Item, wireBytes: Int) -> Bool {
        guard end == nil else { return false }
        items.append((item, wireBytes))
        if wireBytes > 0 { _ = window.queued(wireBytes) }
        return true
    }

    /// Whether a reader is suspended waiting for the next value.
    var hasWaiter: Bool { waiter != nil }

    /// Hands the waiting reader, if any, the next value: the reader to resume, what it gets, the wire bytes
    /// it took and whether the loop should now consume what it held back (see `take`).
    mutating func wake() -> (reader: Waiter, next: Next, wireBytes: Int, kick: Bool)? {
        guard let reader = waiter, let (next, wireBytes, kick) = take() else { return nil }
        waiter = nil
        return (reader, next, wireBytes, kick)
    }

    /// Ends the inbound side after the queued items (a no-op when it has ended). Returns the reader to
    /// resume, if one waits.
    mutating func finish(_ end: End) -> (Waiter, Next)? {
        guard self.end == nil else { return nil }
        self.end = end
        return wakeReader()
    }

    /// Ends the inbound side now: the queued items are dropped. Returns their wire bytes and the reader
    /// to resume with the end, if one waits. A no-op (0, nil) when it has ended.
    mutating func fail(_ end: End) -> (dropped: Int, reader: (Waiter, Next)?) {
        guard self.end == nil else { return (0, nil) }
        self.end = end
        let dropped = dropItems()
        return (dropped, wakeReader())
    }

    /// Drops every queued item, whatever the end; returns their wire bytes.
    mutating func dropItems() -> Int {
        items.removeAll()
        return window.dropAll()
    }

    /// The next value if there is one (nil: nothing yet), and whether the loop should now consume the
    /// bytes it held back (the reader caught up).
    mutating func take() -> (next: Next, wireBytes: Int, kick: Bool)? {
        if let (item, wire) = items.popFirst() {
            return (.item(item), wire, wire > 0 ? window.taken(wire) : false)
        }
        if end != nil { return (.end, 0, false) }
        return nil
    }

    /// Takes the next value, or parks `reader` until there is one.
    mutating func take(orPark reader: Waiter) -> (next: Next, wireBytes: Int, kick: Bool)? {
        if let taken = take() { return taken }
        waiter = reader
        return nil
    }

    private mutating func wakeReader() -> (Waiter, Next)? {
        guard let reader = waiter, let (next, _, _) = take() else { return nil }
        waiter = nil
        return (reader, next)
    }
}
