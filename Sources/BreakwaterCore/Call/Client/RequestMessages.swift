/// The serialized request messages of a client call: a replayable asynchronous sequence.
///
/// Each iteration starts from the first message, so an interceptor can call `next` several times with
/// the same request. Messages from a producer are kept in a retry buffer up to a byte limit; once more
/// than that was written, or `commit()` was called, the request is *committed*: messages already sent
/// are dropped, the producer is slowed to the pace of the current attempt, and a new iteration fails.
public struct RequestMessages: AsyncSequence, Sendable {
    /// The messages.
    public typealias Element = [UInt8]
    /// Any error: the producer's own, or an `RPCError` when replay is no longer possible.
    public typealias Failure = any Error

    enum Storage: Sendable {
        case single([UInt8])
        case fixed([[UInt8]])
        case buffered(ReplayBuffer)
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
    public init(
        retryBufferBytes: Int = 256 * 1024,
        producer: @escaping @Sendable (RPCWriter<[UInt8]>) async throws -> Void
    ) {
        storage = .buffered(ReplayBuffer(limit: retryBufferBytes, producer: producer))
    }

    /// True while an iteration can still start from the first message.
    public var isReplayable: Bool { !isCommitted }

    /// True once the request can no longer be replayed: the retry buffer overflowed or `commit()` was called.
    public var isCommitted: Bool {
        switch storage {
        case .single, .fixed: false
        case .buffered(let buffer): buffer.isCommitted
        }
    }

    /// True when several iterations may run at once, each reading every message: one message or a fixed
    /// list. Messages from a producer are read by one iteration at a time (a new one supersedes the
    /// older), so attempts that race each other, as hedging sends them, need this.
    public var supportsConcurrentIterations: Bool {
        switch storage {
        case .single, .fixed: true
        case .buffered: false
        }
    }

    /// Commits the request: no further replay is needed, so the retry buffer stops keeping sent messages.
    public func commit() {
        if case .buffered(let buffer) = storage { buffer.commit() }
    }

    /// Ends the request: cancels the producer if it is still running and frees the buffer. Iterations
    /// still running then end with CANCELLED. Idempotent.
    public func close() {
        if case .buffered(let buffer) = storage { buffer.close() }
    }

    /// The message when there is exactly one known up front.
    var singleMessage: [UInt8]? {
        if case .single(let message) = storage { message } else { nil }
    }

    /// Starts a new iteration from the first message. An older iteration of a buffered request is
    /// superseded: it ends with CANCELLED.
    public func makeAsyncIterator() -> AsyncIterator {
        switch storage {
        case .single(let message): AsyncIterator(.fixed([message], 0))
        case .fixed(let messages): AsyncIterator(.fixed(messages, 0))
        case .buffered(let buffer): AsyncIterator(.buffered(buffer, generation: buffer.startReader(), position: 0))
        }
    }

    /// Iterates the messages of one attempt.
    public struct AsyncIterator: AsyncIteratorProtocol, Sendable {
        enum State: Sendable {
            case fixed([[UInt8]], Int)
            case buffered(ReplayBuffer, generation: Int, position: Int)
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
            case .buffered(let buffer, let generation, let position):
                guard let message = try await buffer.read(generation: generation, position: position) else {
                    return nil
                }
                state = .buffered(buffer, generation: generation, position: position + 1)
                return message
            }
        }
    }
}
