/// The serialized request messages of a client call: a replayable asynchronous sequence.
///
/// Each iteration starts from the first message, so an interceptor can call `next` several times with
/// the same request. Messages from a producer are kept in a retry buffer up to a byte limit; once more
/// than that was written, or `commit()` was called, the request is *committed*: messages already sent
/// are dropped, the producer is slowed to the pace of the current attempt, and a new iteration fails.
///
/// Attempts that run at once, as hedged attempts do, each iterate their own view, ``attempt(_:)``: the
/// views read the same buffer side by side, each from the first message and then following the
/// producer's writes, and the buffer limit applies once to the call. When the limit is passed, the
/// request is committed to the attempt that has read the most; the other views' iterations fail with
/// CANCELLED.
public struct RequestMessages: AsyncSequence, Sendable {
    /// The messages.
    public typealias Element = [UInt8]
    /// Any error: the producer's own, or an `RPCError` when replay is no longer possible.
    public typealias Failure = any Error

    enum Storage: Sendable {
        case single([UInt8])
        case fixed([[UInt8]])
        /// A producer's messages, iterated as the view of `attempt` (`0`: the request itself).
        case buffered(ReplayBuffer, attempt: Int)
    }

    let storage: Storage

    /// One message (unary and server-streaming calls); always replayable.
    public init(_ message: [UInt8]) {
        storage = .single(message)
    }

    /// A fixed list of messages; always replayable.
    public init(messages: [[UInt8]]) {
        storage = .fixed(messages)
    }

    /// Messages written by `producer`, which runs once, in its own task, when the first attempt starts
    /// reading. Messages are buffered for replay up to `retryBufferBytes`.
    ///
    /// The producer's task is cancelled by `close()`; `GRPCClient` closes the messages when the call ends.
    /// - Parameters:
    ///   - retryBufferBytes: The most bytes kept for replay before the request is committed.
    ///   - producer: Writes the messages; returning ends the request, throwing fails the call.
    public init(
        retryBufferBytes: Int = 256 * 1024,
        producer: @escaping @Sendable (RPCWriter<[UInt8]>) async throws -> Void
    ) {
        storage = .buffered(ReplayBuffer(limit: retryBufferBytes, producer: producer), attempt: 0)
    }

    private init(storage: Storage) {
        self.storage = storage
    }

    /// True while an iteration can still start from the first message.
    public var isReplayable: Bool { !isCommitted }

    /// True once the request can no longer be replayed: the retry buffer overflowed or `commit()` was called.
    public var isCommitted: Bool {
        switch storage {
        case .single, .fixed: false
        case .buffered(let buffer, _): buffer.isCommitted
        }
    }

    /// True when several iterations of this same value may run at once, each reading every message: one
    /// message or a fixed list. Iterations of one view of a producer's messages supersede each other (a
    /// new one ends the older with CANCELLED); concurrent attempts take a view each, ``attempt(_:)``.
    public var supportsConcurrentIterations: Bool {
        switch storage {
        case .single, .fixed: true
        case .buffered: false
        }
    }

    /// Whether the messages come from a producer, through the retry buffer (client and bidirectional
    /// streaming), rather than being known up front.
    public var isStreamed: Bool {
        if case .buffered = storage { true } else { false }
    }

    /// The view of these messages for attempt `number` of a call whose attempts run at once (hedging).
    /// Its iterations read the same retry buffer as every other view's, from the first message, and a
    /// new iteration of the view supersedes only the view's older one. One message or a fixed list is
    /// its own view.
    /// - Parameter number: The attempt, 1 for the first; the same number gives the same view.
    public func attempt(_ number: Int) -> RequestMessages {
        guard case .buffered(let buffer, _) = storage else { return self }
        return RequestMessages(storage: .buffered(buffer, attempt: number))
    }

    /// Commits the request: no further replay is needed, so the retry buffer stops keeping sent messages.
    /// With several views reading, it is committed to the one that has read the most.
    public func commit() {
        if case .buffered(let buffer, _) = storage { buffer.commit(toAttempt: nil) }
    }

    /// Commits the request to attempt `number` (see ``attempt(_:)``) unless it is committed already;
    /// the other views' iterations fail with CANCELLED. Returns the attempt the request is committed to:
    /// `number`, or the one an earlier commit chose (`nil`: none, when no view was reading then). One
    /// message or a fixed list is never committed, and returns `number`.
    /// - Parameter number: The attempt that goes on, as given to ``attempt(_:)``.
    @discardableResult
    public func commit(toAttempt number: Int) -> Int? {
        guard case .buffered(let buffer, _) = storage else { return number }
        return buffer.commit(toAttempt: number)
    }

    /// The attempt the request is committed to; `nil` while it is not committed, or when it was
    /// committed with no view reading.
    public var committedAttempt: Int? {
        guard case .buffered(let buffer, _) = storage else { return nil }
        return buffer.committedAttempt
    }

    /// Waits until the request is committed and returns the attempt it is committed to (as
    /// ``committedAttempt``); `nil` as well when the request was closed or the waiting task cancelled.
    /// One message or a fixed list is never committed: it returns `nil` at once.
    public func waitForCommit() async -> Int? {
        guard case .buffered(let buffer, _) = storage else { return nil }
        return await buffer.waitForCommit()
    }

    /// Tells the buffer that attempt `number` ended: the request is never committed to it, and nothing
    /// is kept for it.
    /// - Parameter number: The attempt that ended, as given to ``attempt(_:)``.
    public func endAttempt(_ number: Int) {
        if case .buffered(let buffer, _) = storage { buffer.endAttempt(number) }
    }

    /// Ends the request: cancels the producer if it is still running and frees the buffer. Iterations
    /// still running then end with CANCELLED. Idempotent.
    public func close() {
        if case .buffered(let buffer, _) = storage { buffer.close() }
    }

    /// The message when there is exactly one known up front.
    var singleMessage: [UInt8]? {
        if case .single(let message) = storage { message } else { nil }
    }

    /// Starts a new iteration from the first message. An older iteration of the same view of a buffered
    /// request is superseded: it ends with CANCELLED.
    public func makeAsyncIterator() -> AsyncIterator {
        switch storage {
        case .single(let message): AsyncIterator(.fixed([message], 0))
        case .fixed(let messages): AsyncIterator(.fixed(messages, 0))
        case .buffered(let buffer, let attempt):
            AsyncIterator(.buffered(buffer, reader: buffer.startReader(attempt: attempt), attempt: attempt))
        }
    }

    /// Iterates the messages of one attempt.
    public struct AsyncIterator: AsyncIteratorProtocol, Sendable {
        enum State: Sendable {
            case fixed([[UInt8]], Int)
            case buffered(ReplayBuffer, reader: Int, attempt: Int)
        }

        var state: State

        init(_ state: State) { self.state = state }

        /// The next message, or `nil` after the last.
        public mutating func next() async throws -> [UInt8]? {
            switch state {
            case .fixed(let messages, let index):
                guard index < messages.count else { return nil }
                state = .fixed(messages, index + 1)
                return messages[index]
            case .buffered(let buffer, let reader, let attempt):
                return try await buffer.read(reader: reader, attempt: attempt)
            }
        }
    }
}
