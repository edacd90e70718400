/// The retry buffer behind a streamed `RequestMessages`: a producer task appends messages, readers (one
/// per attempt) read them from the start and then follow live writes. All state is under one
/// `TSanMutex`; waiters are resumed outside it.
///
/// Each reader belongs to an attempt: `0` for the request itself, `n` for the view of hedged attempt `n`
/// (`RequestMessages.attempt(_:)`). A new reader of an attempt supersedes that attempt's older one;
/// readers of different attempts run side by side, each at its own pace. Messages are stored once, so
/// the byte limit applies to the call, however many attempts read it.
///
/// The call is committed when more than `limit` bytes were written, or on `commit(toAttempt:)`, to one
/// attempt: the one named, or else the one whose reader has read the most (gRFC A6: the in-flight attempt
/// on which the most messages were sent). Every other reader then fails with CANCELLED, the messages
/// the winner has read are dropped, and the producer is held to the winner's pace.
final class ReplayBuffer: Sendable {
    private struct Reader {
        let id: Int
        let attempt: Int
        /// Absolute index of the next message it reads.
        var position = 0
        var waiter: CheckedContinuation<Void, Never>?
    }

    private struct State {
        /// Retained messages; `messages[0]` has absolute index `baseIndex`.
        var messages: [[UInt8]] = []
        var baseIndex = 0
        var retainedBytes = 0
        var committed = false
        /// The attempt the call is committed to; `nil` before the commit, or when no reader was left.
        var winner: Int?
        var closed = false
        /// Set when the producer returned (`nil` error) or threw.
        var produced: (any Error)?? = nil
        /// The live readers, in the order they started; at most one per attempt.
        var readers: [Reader] = []
        var nextReaderID = 1
        var producerStarted = false
        var writerWaiter: CheckedContinuation<Void, Never>?
        var commitWaiters: [(id: Int, continuation: CheckedContinuation<Int?, Never>)] = []
        var nextCommitWaiterID = 0
        var producerTask: Task<Void, Never>?

        func readerIndex(_ id: Int) -> Int? { readers.firstIndex { $0.id == id } }
    }

    /// Continuations to resume once the lock is released.
    private struct Wakeups {
        var readers: [CheckedContinuation<Void, Never>] = []
        var writer: CheckedContinuation<Void, Never>?
        var commits: [CheckedContinuation<Int?, Never>] = []
        var winner: Int?

        func resume() {
            for reader in readers { reader.resume() }
            writer?.resume()
            for commit in commits { commit.resume(returning: winner) }
        }
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

    /// The attempt the call is committed to; `nil` before the commit or when no reader was left.
    var committedAttempt: Int? { state.withLock { $0.winner } }

    /// Commits the call to `attempt`, or when `nil` to the reader that has read the most. Returns the
    /// attempt the call is committed to: this one, or the one an earlier commit chose.
    @discardableResult
    func commit(toAttempt attempt: Int?) -> Int? {
        var wakeups = Wakeups()
        let winner = state.withLock { s -> Int? in
            if !s.committed { commit(&s, to: attempt, &wakeups) }
            return s.winner
        }
        wakeups.resume()
        return winner
    }

    /// Under the lock: commits to `attempt` (`nil`: the furthest reader), drops every other reader (its
    /// next read fails), drops what the winner has read and wakes whoever waits for the commit.
    private func commit(_ s: inout State, to attempt: Int?, _ wakeups: inout Wakeups) {
        s.committed = true
        var winner = attempt
        if winner == nil, var best = s.readers.first {
            for reader in s.readers.dropFirst() where reader.position > best.position { best = reader }
            winner = best.attempt
        }
        s.winner = winner
        s.readers.removeAll { reader in
            guard reader.attempt != winner else { return false }
            if let waiter = reader.waiter { wakeups.readers.append(waiter) }
            return true
        }
        dropConsumed(&s)
        if s.retainedBytes <= limit { wakeups.writer = s.writerWaiter.take() }
        wakeups.commits = s.commitWaiters.map(\.continuation)
        s.commitWaiters = []
        wakeups.winner = winner
    }

    /// Under the lock, once committed: drops the messages the winner has read (all of them when no
    /// reader is left).
    private func dropConsumed(_ s: inout State) {
        guard s.committed else { return }
        let read = s.readers.first.map { $0.position - s.baseIndex } ?? s.messages.count
        let count = min(max(read, 0), s.messages.count)
        guard count > 0 else { return }
        for i in 0..<count { s.retainedBytes -= s.messages[i].count }
        s.messages.removeFirst(count)
        s.baseIndex += count
    }

    func close() {
        var wakeups = Wakeups()
        let task = state.withLock { s in
            s.closed = true
            s.committed = true
            s.messages = []
            s.retainedBytes = 0
            wakeups.readers = s.readers.compactMap(\.waiter)
            s.readers = []
            wakeups.writer = s.writerWaiter.take()
            wakeups.commits = s.commitWaiters.map(\.continuation)
            s.commitWaiters = []
            wakeups.winner = s.winner
            return s.producerTask.take()
        }
        task?.cancel()
        wakeups.resume()
    }

    /// Waits until the call is committed and returns the attempt it is committed to; `nil` when it is
    /// committed to none, the request was closed, or the waiting task was cancelled.
    func waitForCommit() async -> Int? {
        let id = state.withLock { s -> Int in
            s.nextCommitWaiterID += 1
            return s.nextCommitWaiterID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Int?, Never>) in
                let now = state.withLock { s -> Int?? in
                    if s.committed { return .some(s.winner) }
                    if Task.isCancelled { return .some(nil) }
                    s.commitWaiters.append((id, c))
                    return nil
                }
                if let now { c.resume(returning: now) }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Int?, Never>? in
                guard let index = s.commitWaiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.commitWaiters.remove(at: index).continuation
            }
            waiter?.resume(returning: nil)
        }
    }

    /// Registers a new reader of `attempt`, superseding that attempt's older one; starts the producer on
    /// the first reader. Returns the reader's id.
    func startReader(attempt: Int) -> Int {
        let (id, startProducer, stale) = state.withLock { s -> (Int, Bool, CheckedContinuation<Void, Never>?) in
            let id = s.nextReaderID
            s.nextReaderID += 1
            var stale: CheckedContinuation<Void, Never>?
            if let index = s.readers.firstIndex(where: { $0.attempt == attempt }) {
                stale = s.readers.remove(at: index).waiter
            }
            // After the commit only the winner reads; a reader of another attempt fails at its first read.
            if !s.closed, !s.committed || s.winner == attempt {
                s.readers.append(Reader(id: id, attempt: attempt))
            }
            let start = !s.producerStarted && !s.closed
            s.producerStarted = true
            return (id, start, stale)
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
        return id
    }

    /// Removes the readers of `attempt`, which ended: the commit never picks it, and nothing is kept
    /// for it.
    func endAttempt(_ attempt: Int) {
        var wakeups = Wakeups()
        state.withLock { s in
            s.readers.removeAll { reader in
                guard reader.attempt == attempt else { return false }
                if let waiter = reader.waiter { wakeups.readers.append(waiter) }
                return true
            }
            dropConsumed(&s)
            if s.committed, s.retainedBytes <= limit { wakeups.writer = s.writerWaiter.take() }
        }
        wakeups.resume()
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
        var wakeups = Wakeups()
        state.withLock { s in
            s.produced = .some(outcome)
            s.producerTask = nil
            for i in s.readers.indices { if let waiter = s.readers[i].waiter.take() { wakeups.readers.append(waiter) } }
        }
        wakeups.resume()
    }

    private func write(_ message: [UInt8]) async throws {
        enum Outcome { case written, mustWait, closed }
        var wakeups = Wakeups()
        let outcome = state.withLock { s -> Outcome in
            if s.closed { return .closed }
            s.messages.append(message)
            s.retainedBytes += message.count
            if !s.committed && s.retainedBytes > limit {
                commit(&s, to: nil, &wakeups)
            }
            for i in s.readers.indices { if let waiter = s.readers[i].waiter.take() { wakeups.readers.append(waiter) } }
            return s.committed && s.retainedBytes > limit ? .mustWait : .written
        }
        wakeups.resume()
        switch outcome {
        case .closed: throw RPCError(code: .cancelled, message: "The call has ended; the request cannot take more messages")
        case .written: return
        case .mustWait: try await waitForSpace()
        }
    }

    /// Suspends the producer until the winner consumed enough (only after the commit).
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

    /// Why reader `attempt` is no longer registered.
    private static func goneError(_ s: State, attempt: Int) -> RPCError {
        if s.closed { return RPCError(code: .cancelled, message: "The request was closed") }
        if s.committed, s.winner != attempt {
            if s.winner != nil { return RPCError(code: .cancelled, message: "The call was committed to another attempt") }
            return RPCError(
                code: .internalError, message: "The request is committed (retry buffer exceeded) and cannot be replayed")
        }
        return RPCError(code: .cancelled, message: "The request was replayed by a newer attempt")
    }

    /// The next message for reader `id` of `attempt`; `nil` after the last.
    func read(reader id: Int, attempt: Int) async throws -> [UInt8]? {
        enum Step { case message([UInt8]), end((any Error)?), wait, fail(RPCError) }
        while true {
            var writer: CheckedContinuation<Void, Never>?
            let step = state.withLock { s -> Step in
                guard let r = s.readerIndex(id) else { return .fail(Self.goneError(s, attempt: attempt)) }
                let position = s.readers[r].position
                if position < s.baseIndex {
                    return .fail(RPCError(
                        code: .internalError,
                        message: "The request is committed (retry buffer exceeded) and cannot be replayed"))
                }
                let index = position - s.baseIndex
                if index < s.messages.count {
                    let message = s.messages[index]
                    s.readers[r].position = position + 1
                    if s.committed {
                        dropConsumed(&s)
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
                            guard let r = s.readerIndex(id), !Task.isCancelled, s.produced == nil,
                                s.readers[r].position - s.baseIndex >= s.messages.count
                            else { return true }
                            s.readers[r].waiter = c
                            return false
                        }
                        if resumeNow { c.resume() }
                    }
                } onCancel: {
                    state.withLock { s in s.readerIndex(id).flatMap { s.readers[$0].waiter.take() } }?.resume()
                }
            }
        }
    }
}
