import BreakwaterCore

extension ClientStream {
    /// What waits for the caller before the end: the response headers, and messages as they were on the
    /// wire (decompressed when taken).
    enum Pending: Sendable {
        case headers(Metadata)
        case message(InboundMessage, CompressionAlgorithm)
    }

    typealias Inbox = InboundMailbox<Pending, ClientStreamEnd>

    /// What the application side and the loop side share, under the stream's lock.
    struct Shared {
        var inbox: Inbox
        /// The caller has had the end: `next` answers nil from then on.
        var endDelivered = false
        /// The receive budget of the connection the stream runs on, once it runs on one.
        var budget: ConnectionReceiveBudget?
        var outbound = OutboundGate()
        var finishSendingRequested = false
        /// The stream was not handed to its router yet: the first command carries it there.
        var openPending = true

        /// Whether this caller must carry the open to the loop (true once, for the first command).
        mutating func takeOpen() -> Bool {
            defer { openPending = false }
            return openPending
        }

        /// After a value went to the caller: an end is remembered as delivered.
        mutating func noteTaken(_ next: Inbox.Next) {
            if case .end = next { endDelivered = true }
        }

        /// The inbox's next value for the caller (`Inbox.take()`), the end remembered as delivered: the
        /// value, the wire bytes to release from the connection's budget, and whether the loop should hear
        /// that the caller caught up.
        mutating func take() -> (next: Inbox.Next, wireBytes: Int, kick: Bool)? {
            guard let taken = inbox.take() else { return nil }
            noteTaken(taken.next)
            return taken
        }

        /// `take()`, or parks `reader` until there is a value.
        mutating func take(orPark reader: Inbox.Waiter) -> (next: Inbox.Next, wireBytes: Int, kick: Bool)? {
            guard let taken = inbox.take(orPark: reader) else { return nil }
            noteTaken(taken.next)
            return taken
        }

        /// The waiting reader and its next value (`Inbox.wake()`), the end remembered as delivered.
        mutating func wake() -> (reader: Inbox.Waiter, next: Inbox.Next, wireBytes: Int, kick: Bool)? {
            guard let woken = inbox.wake() else { return nil }
            noteTaken(woken.next)
            return woken
        }
    }
}
