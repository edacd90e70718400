/// The shared state of an `InProcessTransport`: the server's accept callback and the open streams,
/// under one `Mutex`.
final class InProcessHub: Sendable {
    private enum ServerPhase { case notStarted, running, shuttingDown, stopped }

    private struct State {
        var accept: (@Sendable (any ServerTransportStream) -> Void)?
        var phase: ServerPhase = .notStarted
        var clientClosed = false
        var open: [Int: InProcessStreamCore] = [:]
        var nextID = 0
        var drainWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiterID = 0
        /// The open streams' deadlines, enforced by one task (`keeper`); a new deadline earlier than the
        /// one it sleeps until starts a new keeper of the next generation, and the old one ends.
        var deadlines = InProcessDeadlineQueue()
        var keeperGeneration = 0
        var keeper: Task<Void, Never>?
    }

    let maxRequestMessageBytes: Int
    let peer: String
    private let state = TSanMutex(State())

    init(maxRequestMessageBytes: Int, peer: String) {
        self.maxRequestMessageBytes = maxRequestMessageBytes
        self.peer = peer
    }

    deinit {
        state.withLock { $0.keeper }?.cancel()
    }

    func startServer(_ accept: @escaping @Sendable (any ServerTransportStream) -> Void) throws {
        try state.withLock { s in
            guard s.phase == .notStarted else {
                throw RPCError(code: .unavailable, message: "in-process server: already started")
            }
            s.phase = .running
            s.accept = accept
        }
    }

    func closeClient() {
        state.withLock { $0.clientClosed = true }
    }

    func makeStream(head: ClientRequestHead) -> any ClientTransportStream {
        let serverHead = ServerRequestHead(
            path: head.method.path,
            metadata: head.metadata,
            deadline: head.deadline,
            requestEncoding: head.compression,
            responseEncoding: head.compression,
            peer: peer
        )
        enum Opening { case refused(String), accepted((@Sendable (any ServerTransportStream) -> Void), Int) }
        let opening = state.withLock { s -> Opening in
            if s.clientClosed { return .refused("in-process client: closed") }
            guard s.phase == .running, let accept = s.accept else {
                return .refused("in-process server: not running")
            }
            s.nextID += 1
            return .accepted(accept, s.nextID)
        }
        switch opening {
        case .refused(let reason):
            let core = InProcessStreamCore(
                id: 0, head: serverHead, maxRequestBytes: maxRequestMessageBytes,
                maxResponseBytes: head.maxReceiveMessageBytes, onEnd: { _ in })
            core.abort(Status(code: .unavailable, message: reason), neverReachedServer: true)
            return InProcessClientStream(core: core)
        case .accepted(let accept, let id):
            let core = InProcessStreamCore(
                id: id, head: serverHead, maxRequestBytes: maxRequestMessageBytes,
                maxResponseBytes: head.maxReceiveMessageBytes,
                onEnd: { [weak self] id in self?.streamEnded(id) })
            let expiredAtOpen = head.deadline.map { $0 <= .now } ?? false
            let keeper = state.withLock { s -> Int? in
                s.open[id] = core
                guard !expiredAtOpen, let deadline = head.deadline, s.deadlines.arm(id, at: deadline) else { return nil }
                s.keeperGeneration += 1
                return s.keeperGeneration
            }
            if expiredAtOpen {
                core.abort(Self.deadlineStatus)
                return InProcessClientStream(core: core)
            }
            if let keeper { startKeeper(generation: keeper) }
            accept(InProcessServerStream(core: core))
            return InProcessClientStream(core: core)
        }
    }

    static let deadlineStatus = Status(code: .deadlineExceeded, message: "Deadline exceeded")

    // MARK: Deadlines

    /// Starts the keeper of `generation`: a task that sleeps until the queue's wake-up time, aborts the
    /// streams whose deadline passed, and ends when none is pending or a newer keeper took over. It holds
    /// the hub weakly, so a dropped transport does not wait for its deadlines.
    private func startKeeper(generation: Int) {
        let task = Task.detached { [weak self] in
            while true {
                guard let wakeAt = self?.keeperWakeTime(generation: generation) else { return }
                do {
                    try await Task.sleep(until: wakeAt, clock: .continuous)
                } catch {
                    return  // replaced by a newer keeper, or the hub is gone
                }
                guard let expired = self?.expireDeadlines(generation: generation) else { return }
                for core in expired { core.abort(InProcessHub.deadlineStatus) }
            }
        }
        let replaced = state.withLock { s -> Task<Void, Never>? in
            guard s.keeperGeneration == generation else { return task }  // a newer one started meanwhile
            defer { s.keeper = task }
            return s.keeper
        }
        replaced?.cancel()
    }

    /// When keeper `generation` is to wake; `nil`: it is to end.
    private func keeperWakeTime(generation: Int) -> ContinuousClock.Instant? {
        state.withLock { s in s.keeperGeneration == generation ? s.deadlines.wakeAt : nil }
    }

    /// The streams whose deadline passed, for keeper `generation` to abort; `nil` when it is not the current
    /// keeper.
    private func expireDeadlines(generation: Int) -> [InProcessStreamCore]? {
        let now = ContinuousClock.now
        return state.withLock { s -> [InProcessStreamCore]? in
            guard s.keeperGeneration == generation else { return nil }
            let expired = s.deadlines.expire(now: now).compactMap { s.open[$0] }
            if s.deadlines.wakeAt == nil { s.keeper = nil }
            return expired
        }
    }

    private func streamEnded(_ id: Int) {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open.removeValue(forKey: id)
            s.deadlines.disarm(id)
            guard s.open.isEmpty else { return [] }
            defer { s.drainWaiters = [:] }
            return Array(s.drainWaiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    func shutdownServer(gracePeriod: Duration) async {
        let proceed = state.withLock { s -> Bool in
            guard s.phase == .running || s.phase == .notStarted else { return false }
            s.phase = .shuttingDown
            s.accept = nil
            return true
        }
        guard proceed else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForDrain() }
            group.addTask { try? await Task.sleep(for: gracePeriod) }
            await group.next()
            group.cancelAll()
        }
        let remaining = state.withLock { s in
            s.phase = .stopped
            return Array(s.open.values)
        }
        for core in remaining {
            core.abort(Status(code: .unavailable, message: "in-process server: shut down"))
        }
    }

    private func waitForDrain() async {
        let id = state.withLock { s in
            s.nextWaiterID += 1
            return s.nextWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let done = state.withLock { s -> Bool in
                    if s.open.isEmpty || Task.isCancelled { return true }
                    s.drainWaiters[id] = c
                    return false
                }
                if done { c.resume() }
            }
        } onCancel: {
            state.withLock { $0.drainWaiters.removeValue(forKey: id) }?.resume()
        }
    }
}
