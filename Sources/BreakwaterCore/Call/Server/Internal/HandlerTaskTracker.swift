/// Counts running handler tasks so a graceful shutdown can wait for them; state under a `Mutex`.
final class HandlerTaskTracker: Sendable {
    private struct State {
        var running = 0
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = TSanMutex(State())

    func enter() {
        state.withLock { $0.running += 1 }
    }

    func leave() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.running -= 1
            guard s.running == 0 else { return [] }
            defer { s.idleWaiters = [] }
            return s.idleWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    var running: Int { state.withLock { $0.running } }

    /// Returns once no handler task is running.
    func waitUntilIdle() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { s -> Bool in
                if s.running == 0 { return true }
                s.idleWaiters.append(c)
                return false
            }
            if idle { c.resume() }
        }
    }
}
