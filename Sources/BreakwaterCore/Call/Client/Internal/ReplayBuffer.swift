/// The retry buffer behind a streamed `RequestMessages`: a producer task appends messages, attempts read
/// them from the start. All state is under one `Mutex`; waiters are resumed outside it.
final class ReplayBuffer: Sendable {
    private struct State {
        /// Retained messages; `messages[0]` has absolute index `baseIndex`.
        var messages: [[UInt8]] = []
        var baseIndex = 0
        var retainedBytes = 0
        var committed = false
        var closed = false
        /// Set when the producer returned (`nil` error) or threw.
        var produced: (any Error)?? = nil
        /// The newest reader; older readers are superseded.
        var generation = 0
        /// Absolute position of the newest reader.
        var position = 0
        var readerWaiter: CheckedContinuation<Void, Never>?
        var writerWaiter: CheckedContinuation<Void, Never>?
        var producerTask: Task<Void, Never>?
    }

    let limit: Int
    private let producer: @Sendable (RPCWriter<[UInt8]>) async throws -> Void
    private let state = TSanMutex(State())

    init(limit: Int, producer: @escaping @Sendable (RPCWriter<[UInt8]>) async throws -> Void) {
        self.limit = max(0, limit)
        self.producer = producer
    }

    deinit {
        state.withLock { $0.producerTask?.cancel() }
    }

    var isCommitted: Bool { state.withLock { $0.committed } }

    func commit() {
        let writer = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard !s.committed else { return nil }
            s.committed = true
            Self.dropConsumed(&s)
            return s.retainedBytes <= limit ? s.writerWaiter.take() : nil
        }
        writer?.resume()
    }

    func close() {
        let (task, reader, writer) = state.withLock { s in
            s.closed = true
            s.committed = true
            s.messages = []
            s.retainedBytes = 0
            return (s.producerTask.take(), s.readerWaiter.take(), s.writerWaiter.take())
        }
        task?.cancel()
        reader?.resume()
        writer?.resume()
    }

    /// Registers a new reader, superseding older ones; starts the producer on the first.
    func startReader() -> Int {
        let (generation, startProducer, stale) = state.withLock { s in
            s.generation += 1
            s.position = 0
            let start = s.generation == 1 && !s.closed
            return (s.generation, start, s.readerWaiter.take())
        }
        stale?.resume()
        if startProducer {
            let task = Task { [self] in await runProducer() }
            let cancelNow = state.withLock { s -> Bool in
                if s.closed { return true }
                s.producerTask = task
                return false
            }
            if cancelNow { task.cancel() }
        }
        return generation
    }

    private func runProducer() async {
        let writer = RPCWriter<[UInt8]> { [self] message in try await write(message) }
        let outcome: (any Error)?
        do {
            try await producer(writer)
            outcome = nil
        } catch {
            outcome = error
        }
        let reader = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.produced = .some(outcome)
            s.producerTask = nil
            return s.readerWaiter.take()
        }
        reader?.resume()
    }

    /// Drops messages the newest reader has read, once committed.
    private static func dropConsumed(_ s: inout State) {
        guard s.committed, s.generation > 0 else { return }
        let count = min(s.position - s.baseIndex, s.messages.count)
        guard count > 0 else { return }
        for i in 0..<count { s.retainedBytes -= s.messages[i].count }
        s.messages.removeFirst(count)
        s.baseIndex += count
    }

    private func write(_ message: [UInt8]) async throws {
        enum Outcome { case written, mustWait, closed }
        let (outcome, reader) = state.withLock { s -> (Outcome, CheckedContinuation<Void, Never>?) in
            if s.closed { return (.closed, nil) }
            s.messages.append(message)
            s.retainedBytes += message.count
            if !s.committed && s.retainedBytes > limit {
                s.committed = true
                Self.dropConsumed(&s)
            }
            let reader = s.readerWaiter.take()
            return (s.committed && s.retainedBytes > limit ? .mustWait : .written, reader)
        }
        reader?.resume()
        switch outcome {
        case .closed: throw RPCError(code: .cancelled, message: "The call has ended; the request cannot take more messages")
        case .written: return
        case .mustWait: try await waitForSpace()
        }
    }

    /// Suspends the producer until the reader consumed enough (only after commit).
    private func waitForSpace() async throws {
        while true {
            try Task.checkCancellation()
            let done = state.withLock { s in s.closed || s.retainedBytes <= limit }
            if done { return }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { s -> Bool in
                        if s.closed || s.retainedBytes <= limit || Task.isCancelled { return true }
                        s.writerWaiter = c
                        return false
                    }
                    if resumeNow { c.resume() }
                }
            } onCancel: {
                state.withLock { $0.writerWaiter.take() }?.resume()
            }
        }
    }

    func read(generation: Int, position: Int) async throws -> [UInt8]? {
        enum Step { case message([UInt8]), end((any Error)?), wait, fail(RPCError) }
        while true {
            var writer: CheckedContinuation<Void, Never>?
            let step = state.withLock { s -> Step in
                if s.closed {
                    return .fail(RPCError(code: .cancelled, message: "The request was closed"))
                }
                if generation != s.generation {
                    return .fail(RPCError(code: .cancelled, message: "The request was replayed by a newer attempt"))
                }
                if position < s.baseIndex {
                    return .fail(RPCError(
                        code: .internalError,
                        message: "The request is committed (retry buffer exceeded) and cannot be replayed"))
                }
                let index = position - s.baseIndex
                if index < s.messages.count {
                    let message = s.messages[index]
                    s.position = position + 1
                    if s.committed {
                        Self.dropConsumed(&s)
                        if s.retainedBytes <= limit { writer = s.writerWaiter.take() }
                    }
                    return .message(message)
                }
                if let produced = s.produced { return .end(produced) }
                return .wait
            }
            writer?.resume()
            switch step {
            case .message(let message): return message
            case .end(nil): return nil
            case .end(let error?): throw error
            case .fail(let error): throw error
            case .wait:
                if Task.isCancelled { throw RPCError(code: .cancelled, message: "The request was cancelled") }
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                        let resumeNow = state.withLock { s -> Bool in
                            let ready = s.closed || s.generation != generation || s.produced != nil
                                || position - s.baseIndex < s.messages.count || Task.isCancelled
                            if ready { return true }
                            s.readerWaiter = c
                            return false
                        }
                        if resumeNow { c.resume() }
                    }
                } onCancel: {
                    state.withLock { $0.readerWaiter.take() }?.resume()
                }
            }
        }
    }
}
