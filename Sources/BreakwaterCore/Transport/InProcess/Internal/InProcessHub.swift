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
    }

    let maxRequestMessageBytes: Int
    let peer: String
    private let state = TSanMutex(State())

    init(maxRequestMessageBytes: Int, peer: String) {
        self.maxRequestMessageBytes = maxRequestMessageBytes
        self.peer = peer
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
            state.withLock { $0.open[id] = core }
            if let deadline = head.deadline {
                if deadline <= .now {
                    core.abort(Self.deadlineStatus)
                    return InProcessClientStream(core: core)
                }
                core.armDeadline(deadline)
            }
            accept(InProcessServerStream(core: core))
            return InProcessClientStream(core: core)
        }
    }

    static let deadlineStatus = Status(code: .deadlineExceeded, message: "Deadline exceeded")

    private func streamEnded(_ id: Int) {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open.removeValue(forKey: id)
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
