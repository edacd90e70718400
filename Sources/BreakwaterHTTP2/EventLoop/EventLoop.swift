@_spi(Locking) import BreakwaterCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One thread waiting on its sockets (`epoll` on Linux, behind `Poller`), woken by other threads when
/// they hand it work.
///
/// An event loop owns its sockets and their HTTP/2 sessions: only the thread acting as the loop touches
/// them. That is the loop's own thread, or, while the loop waits for I/O with nothing queued, a caller that
/// stands in for it for one command (`submit`: a client writes its request itself instead of waking the
/// loop to do it). Other threads hand it work with `execute(_:)`; commands that arrive while the loop is
/// awake are picked up without a wake-up write. The loop is also a Swift `TaskExecutor`, so tasks can run on the thread that owns their stream
/// (`withTaskExecutorPreference` or `Task(executorPreference:)`).
///
/// A loop runs until its group shuts down (`EventLoopGroup.shutdownGracefully()`); it then closes what is
/// still registered on it and its own descriptors, and its thread ends. Code running on the loop must never
/// block it.
public final class EventLoop: TaskExecutor, @unchecked Sendable {
    // Safety: `queue` is protected by its Mutex and `threadID` is atomic; `failedToSpawn` is written in
    // `init` only (when no thread was created to share it with); every other stored var (`handlers`,
    // `timers`, `turnObservers`, `readBuffer`, ...) is touched only by the holder of `ownership`: the
    // loop's thread during a turn, or a caller standing in for it in `submit`; `waiter` by the loop's own
    // thread between turns (its counters are atomic).
    // Exclusivity: the loop-confined vars are `@exclusivity(unchecked)`, for the reasons given in
    // `HTTP2Session` (one thread; `timers.popDue` returns before the timer fires; a batch runs from
    // `running` while new work goes to the queue's array).

    private enum Work {
        case job(UnownedJob)
        case closure(@Sendable () -> Void)
    }

    private struct Queue {
        var items: [Work] = []
        var sleeping = false
        var wakePending = false
        /// The loop was asked to stop: no more work is taken.
        var stopping = false
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
        var stopped = false
        /// Wake-up writes asked for so far (for tests: a loop that is awake is handed work without one).
        var wakeUps = 0
    }

    /// A short name for diagnostics, e.g. `bw-loop-0`.
    public let name: String
    /// The longest the loop polls its descriptors without blocking after each turn before it sleeps
    /// (zero: it sleeps at once, the default). See ``init(name:idlePoll:)``.
    public var idlePoll: Duration { waiter.budget }
    private let waiter: IdlePollingWaiter
    private let poller: EpollPoller?
    private let queue = TSanMutex(Queue())
    private let threadID = Atomic<UInt>(0)

    /// The batch being run: swapped with the queue's array under the lock, so neither is reallocated.
    @exclusivity(unchecked) private var running: [Work] = []
    @exclusivity(unchecked) private var handlers: [Int32: any EventLoopFDHandler] = [:]
    @exclusivity(unchecked) private var timers = TimerHeap<() -> Void>()
    @exclusivity(unchecked) private var turnObservers: [any EventLoopTurnObserver] = []
    @exclusivity(unchecked) private var notifying: [any EventLoopTurnObserver] = []
    /// A buffer reused for every socket read on this loop.
    let readBuffer: UnsafeMutableRawBufferPointer
    /// When the current turn began (the loop polls its sockets once per turn).
    @exclusivity(unchecked) private var turnStarted = ContinuousClock.now
    /// The turns the loop's thread has begun (for tests: what ran in the same turn). Loop thread only.
    @exclusivity(unchecked) private(set) var turnCount = 0
    /// Tasks waiting for the loop to have polled its sockets (`yieldToIO`).
    @exclusivity(unchecked) private var afterPoll: [UnsafeContinuation<Void, Never>] = []
    /// Held by whichever thread acts as the loop: the loop's own thread for each turn (all but its wait for
    /// I/O), or a caller standing in for it while it waits (`submit`). What the loop confines to its thread
    /// is confined to the holder, and `threadID` names the holder while it holds it.
    private let ownership = LoopOwnership()
    /// The last turn ended with the loop asleep (`Queue.sleeping`), to be cleared in the next.
    @exclusivity(unchecked) private var slept = false
    /// Until when the loop waits for I/O, unless woken (nil: until woken). Set by the owner before its wait.
    @exclusivity(unchecked) private var sleepingUntil: ContinuousClock.Instant?
    /// Client streams open on this loop's connections (kept by `ClientConnection`). While there are any,
    /// callers queue their commands instead of standing in for the sleeping loop (`submit`): the loop
    /// wakes once for the commands queued meanwhile and writes them together, where callers standing in
    /// would write one each, and would keep the loop waiting on the lock when answers arrive. Measured with
    /// 64 calls in flight: about one write per call instead of one per twenty, and more CPU per call.
    @exclusivity(unchecked) var openClientStreams = 0
    /// Descriptors registered, changed or unregistered since the loop last began to wait (by a caller
    /// standing in for it, when the wait is still on): what that wait returned for them may be stale, and
    /// a closed descriptor's number may already name a new socket. Their events are dropped; the poller is
    /// level-triggered, so a descriptor still ready is reported by the next wait.
    @exclusivity(unchecked) private var changedDuringWait: [Int32] = []
    /// Told when the loop stops, besides the registered descriptors' handlers (connection managers).
    @exclusivity(unchecked) private var stopObservers: [ObjectIdentifier: () -> Void] = [:]

    /// How long one turn may run queued work (tasks, commands) before the loop polls its sockets again.
    /// Handlers run on the loop; without a bound, one that keeps writing (a stream of millions of small
    /// messages, each compressed) would starve every other connection of the loop.
    static let turnBudget: Duration = .milliseconds(2)

    /// Why the loop could not start (no descriptor for its poller, no thread), or nil when it runs.
    /// A loop that could not start runs nothing: transports on it fail their calls and their `start` with
    /// this error (UNAVAILABLE) instead of waiting forever.
    public var startFailure: RPCError? { setupFailure ?? failedToSpawn }
    private let setupFailure: RPCError?
    /// The loop's thread could not be created (set in `init` only).
    private var failedToSpawn: RPCError?

    /// Creates and starts a loop on a new thread. When the process is out of descriptors or threads the
    /// loop does not start, and says why in `startFailure`.
    ///
    /// - Parameters:
    ///   - name: The loop's name, also its thread's (15 bytes are kept).
    ///   - idlePoll: The longest the loop keeps polling its sockets without blocking after each turn
    ///     before it sleeps: zero (the default) sleeps at once; at most 1 ms. It adapts to the traffic, and
    ///     spends CPU for latency where a thread wakes slowly (<doc:EventLoopsAndLatency>).
    public convenience init(name: String = "bw-loop", idlePoll: Duration = .zero) {
        self.init(name: name, idlePoll: idlePoll, makePoller: { name throws(PollerError) in try EpollPoller(name: name) })
    }

    /// A loop whose poller comes from `makePoller`: tests make it fail as a process out of descriptors
    /// would, without lowering the descriptor limit of the whole test process under its other tests.
    init(name: String, idlePoll: Duration = .zero, makePoller: (String) throws(PollerError) -> EpollPoller) {
        self.name = name
        waiter = IdlePollingWaiter(IdlePoll(budget: idlePoll))
        readBuffer = .allocate(byteCount: 64 * 1024, alignment: 16)
        do {
            poller = try makePoller(name)
            setupFailure = nil
        } catch {
            poller = nil
            setupFailure = RPCError(code: .unavailable, message: "cannot start event loop: \(error.message)")
            return
        }
        let started = ThreadSpawner.spawn(name: name) { [self] in self.run() }
        if !started {
            // Not yet seen by any other thread: safe to set here.
            failedToSpawn = RPCError(code: .unavailable, message: "cannot start event loop \(name): cannot create a thread")
        }
    }

    deinit {
        // A running loop retains itself through its thread, so this runs only for one that never started
        // or that stopped (and closed its poller then).
        if startFailure != nil { poller?.close() }
        readBuffer.deallocate()
    }

    /// True when called on the thread acting as the loop: the loop's own thread while it runs work, or a
    /// thread standing in for it while the loop waits for I/O.
    public var inEventLoop: Bool {
        threadID.load(ordering: .relaxed) == UInt(pthread_self())
    }

    /// Whether the loop waits for I/O with nothing queued (for tests: the answer may be stale as soon as it
    /// is given).
    var isWaitingForIO: Bool {
        guard ownership.tryTake() else { return false }
        defer { ownership.release() }
        return queue.withLock { $0.sleeping && $0.items.isEmpty }
    }

    /// The wake-up writes that work handed to the loop has cost so far (for tests).
    var wakeUps: Int { queue.withLock { $0.wakeUps } }

    /// The non-blocking polls the loop has made while idle (`idlePoll`), and the times it went to sleep
    /// after polling had found nothing (for tests).
    var idlePollStatistics: (polls: Int, sleptAfterPolling: Int) {
        (waiter.polls.load(ordering: .relaxed), waiter.sleptAfterPolling.load(ordering: .relaxed))
    }

    /// Whether the loop has been asked to stop or has stopped; work handed to it then does not run.
    public var isStopped: Bool { queue.withLock { $0.stopping } }

    /// Runs `work` on the loop thread, after the work already queued. After the loop stopped, `work` is
    /// dropped: close the transports that use a group before shutting the group down.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        push(.closure(work))
    }

    /// Runs `work` at once when called on the loop thread, otherwise queues it.
    func executeOrRun(_ work: @escaping @Sendable () -> Void) {
        if inEventLoop { work() } else { push(.closure(work)) }
    }

    /// Runs `work` at once on the calling thread when that thread may act as the loop, otherwise queues it
    /// as `execute` does. It may on the loop's thread, and on any thread while the loop waits for I/O with
    /// nothing queued and no client stream open (see `openClientStreams`): the caller then owns the loop
    /// until `work` and the flushes it asked for are done, and wakes the loop only when it armed a timer the
    /// loop would sleep past.
    ///
    /// Why: a caller that hands its request to a sleeping loop pays two thread hops per call (the wake-up of
    /// the loop to write the request, the wake-up of the caller when the response is read); one that writes
    /// its request itself pays only the second, as gRPC C++'s combiner does.
    ///
    /// `work` must not block, and the caller must not hold a lock that `work` may take.
    func submit(_ work: @escaping @Sendable () -> Void) {
        if inEventLoop {
            work()
            return
        }
        guard ownership.tryTake() else {
            push(.closure(work))
            return
        }
        // Only a loop that decided to sleep: one between two turns of a busy stretch comes back at once,
        // and would wait for this caller to hand it back. Work queued earlier runs first (the loop was woken
        // for it), and a stopping loop takes no more.
        guard startFailure == nil, openClientStreams == 0,
            queue.withLock({ $0.sleeping && $0.items.isEmpty && !$0.stopping })
        else {
            ownership.release()
            push(.closure(work))
            return
        }
        threadID.store(UInt(pthread_self()), ordering: .relaxed)
        work()
        runTurnObservers()
        let wake = timers.wakeUpTime(now: .now).map { wakeUp in sleepingUntil.map { wakeUp < $0 } ?? true } ?? false
        threadID.store(0, ordering: .relaxed)
        ownership.release()
        if wake { poller?.wake() }
    }

    /// `TaskExecutor`: runs a job on the loop thread (on the global executor once the loop has stopped,
    /// so that a task preferring a stopped loop still runs).
    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        if !push(.job(unowned)) {
            globalConcurrentExecutor.enqueue(ExecutorJob(unowned))
        }
    }

    /// Queues work; false (and nothing queued) once the loop is stopping.
    @discardableResult
    private func push(_ work: Work) -> Bool {
        let onLoop = inEventLoop
        let (accepted, wake) = queue.withLock { q -> (Bool, Bool) in
            // While stopping, only the loop itself still queues (the ends of what it is closing).
            if q.stopped || (q.stopping && !onLoop) { return (false, false) }
            q.items.append(work)
            if q.sleeping && !q.wakePending {
                q.wakePending = true
                q.wakeUps &+= 1
                return (true, true)
            }
            return (true, false)
        }
        if wake { poller?.wake() }
        return accepted
    }

    // MARK: Loop-thread API

    /// Registers a file descriptor for `interest`. Loop thread only.
    func register(fd: Int32, interest: IOEvents, handler: any EventLoopFDHandler) -> Bool {
        guard let poller, poller.register(fd, interest: interest) else { return false }
        changedDuringWait.append(fd)
        handlers[fd] = handler
        return true
    }

    /// Changes what a registered file descriptor is watched for (an empty set pauses it). Loop thread only.
    func modify(fd: Int32, interest: IOEvents) {
        changedDuringWait.append(fd)
        poller?.modify(fd, interest: interest)
    }

    /// Unregisters a file descriptor (the caller closes it). Loop thread only.
    func unregister(fd: Int32) {
        guard handlers.removeValue(forKey: fd) != nil else { return }
        changedDuringWait.append(fd)
        poller?.unregister(fd)
    }

    /// Schedules `fire` to run on the loop at `deadline`; returns an id for `cancelTimer`. Loop thread only.
    func scheduleTimer(at deadline: ContinuousClock.Instant, _ fire: @escaping () -> Void) -> UInt64 {
        timers.schedule(at: deadline, fire)
    }

    /// Cancels a timer. Loop thread only.
    func cancelTimer(_ id: UInt64) {
        timers.cancel(id)
    }

    /// Asks for `observer.endOfTurn()` at the end of this turn. The observer deduplicates. Loop thread only.
    func addTurnObserver(_ observer: any EventLoopTurnObserver) {
        turnObservers.append(observer)
    }

    /// Runs `stopping` when the loop stops, unless removed first. Loop thread only.
    func onStop(_ owner: AnyObject, _ stopping: @escaping () -> Void) {
        stopObservers[ObjectIdentifier(owner)] = stopping
    }

    /// Forgets what `onStop` registered for `owner`. Loop thread only.
    func removeOnStop(_ owner: AnyObject) {
        stopObservers[ObjectIdentifier(owner)] = nil
    }

    /// Whether this turn has run its queued work for longer than `turnBudget`. Loop thread only.
    /// The clock is read once per `budgetCheckInterval` asks (a clock read costs about what a small send
    /// does), so a turn overruns its budget by at most that many sends.
    var turnIsOverBudget: Bool {
        budgetChecks &+= 1
        guard budgetChecks & (Self.budgetCheckInterval - 1) == 0 else { return false }
        return turnStarted.duration(to: .now) > Self.turnBudget
    }

    private static let budgetCheckInterval = 16
    @exclusivity(unchecked) private var budgetChecks = 0

    /// Suspends the calling task until the loop has polled its sockets and handled their events; a task
    /// that runs on this loop calls it when `turnIsOverBudget`, so that it cannot starve the loop's other
    /// connections. Returns at once when not called on the loop.
    func yieldToIO() async {
        await withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
            if inEventLoop { afterPoll.append(c) } else { c.resume() }
        }
    }

    // MARK: Stopping

    /// Stops the loop after the work already queued: what is still registered is closed, the poller's
    /// descriptors are closed, the thread ends; returns once it has.
    func stop() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let (done, wake) = queue.withLock { q -> (Bool, Bool) in
                if q.stopped || startFailure != nil { return (true, false) }
                q.stopWaiters.append(c)
                if q.stopping { return (false, false) }
                // The last work item: the loop sees `stopping` once it has run everything queued before it.
                q.items.append(.closure({}))
                q.stopping = true
                return (false, true)
            }
            if wake { poller?.wake() }
            if done { c.resume() }
        }
    }

    /// On the loop thread, once stopping: close everything, then report to the waiters.
    private func finishStopping() {
        for observer in stopObservers.values { observer() }
        stopObservers.removeAll()
        // Handlers unregister themselves as they close; take them all first.
        let remaining = handlers
        for handler in remaining.values { handler.eventLoopStopping() }
        for (fd, _) in handlers { poller?.unregister(fd) }
        handlers.removeAll()
        // What closing queued (streams failed, handlers told), once more until quiet.
        for _ in 0..<64 where queue.withLock({ !$0.items.isEmpty }) {
            runQueuedWork()
            runTurnObservers()
        }
        timers = TimerHeap()
        turnObservers.removeAll()
        let waiting = afterPoll
        afterPoll.removeAll()
        for continuation in waiting { continuation.resume() }
        poller?.close()
        let waiters = queue.withLock { q -> [CheckedContinuation<Void, Never>] in
            q.stopped = true
            q.items.removeAll()
            defer { q.stopWaiters.removeAll() }
            return q.stopWaiters
        }
        threadID.store(0, ordering: .relaxed)
        for waiter in waiters { waiter.resume() }
    }

    // MARK: The loop

    private func run() {
        guard let poller else { return }
        var ready = 0
        while true {
            // A turn, as the loop's owner: what the last wait found, then queued work, timers, flushes.
            ownership.take()
            threadID.store(UInt(pthread_self()), ordering: .relaxed)
            let timeout = turn(poller, ready: ready)
            threadID.store(0, ordering: .relaxed)
            ownership.release()
            guard let timeout else { return }
            // Not owned while it waits: a caller may stand in for it meanwhile (`submit`).
            ready = waiter.wait(poller, timeoutMillis: timeout)
        }
    }

    /// One turn of the loop; returns how long to wait for I/O next, or nil once the loop has stopped.
    private func turn(_ poller: EpollPoller, ready: Int) -> Int32? {
        // Awake before the I/O is handled: a caller resumed by a response read here hands its next request
        // over while this turn runs, and must not pay a wake-up write (and the loop an extra event) for it.
        if slept {
            slept = false
            queue.withLock { q in
                q.sleeping = false
                q.wakePending = false
            }
        }
        if ready > 0 {
            poller.handleReady(ready) { fd, events in
                if !changedDuringWait.isEmpty && changedDuringWait.contains(fd) { return }
                handlers[fd]?.handleEvents(events)
            }
        }
        if !afterPoll.isEmpty {
            // Resumed tasks go to the queue: they run in this turn, after the I/O just handled.
            let waiting = afterPoll
            afterPoll.removeAll(keepingCapacity: true)
            for continuation in waiting { continuation.resume() }
        }
        turnStarted = .now
        turnCount &+= 1
        runQueuedWork()
        runDueTimers()
        runTurnObservers()
        // Readers the observers resumed, when their tasks prefer this loop, run in this turn: after
        // another poll first, each batch of messages would cost a second turn and a poll that finds nothing.
        // Only with client streams open: a server's handlers may gain from the poll, which brings them more
        // requests to answer in one flush (h2load 4x16 against a server that ran them at once: medians 4.7%
        // lower, in four rounds of five).
        if openClientStreams > 0 && queue.withLock({ !$0.items.isEmpty }) {
            runQueuedWork()
            runTurnObservers()
        }

        // Decide how long to sleep.
        let now = ContinuousClock.now
        let wakeUp = timers.wakeUpTime(now: now)
        var timeoutMillis: Int32 = -1
        if let wakeUp {
            let remaining = now.duration(to: wakeUp)
            if remaining <= .zero {
                timeoutMillis = 0
            } else {
                let (seconds, attos) = remaining.components
                let millis = seconds * 1000 + (attos + 999_999_999_999_999) / 1_000_000_000_000_000
                timeoutMillis = Int32(clamping: millis)
            }
        }
        let (mustPoll, stopping) = queue.withLock { q -> (Bool, Bool) in
            if q.stopping && q.items.isEmpty { return (false, true) }
            if q.items.isEmpty {
                q.sleeping = true
                return (false, false)
            }
            return (true, false)
        }
        if stopping {
            // Everything queued before the stop has run: work handed over from now on is refused.
            runTurnObservers()
            finishStopping()
            return nil
        }
        slept = !mustPoll
        if mustPoll || !turnObservers.isEmpty || !afterPoll.isEmpty { timeoutMillis = 0 }
        sleepingUntil = timeoutMillis == 0 ? now : wakeUp
        changedDuringWait.removeAll(keepingCapacity: true)
        return timeoutMillis
    }

    private func runQueuedWork() {
        // Drain a bounded number of batches, within the turn's budget, so that I/O is not starved by work
        // that enqueues work.
        for batch in 0..<16 {
            if batch > 0 && turnStarted.duration(to: .now) > Self.turnBudget { return }
            queue.withLock { q in swap(&q.items, &running) }
            if running.isEmpty { return }
            // The queue lock is not held here: running a job may enqueue again on this thread.
            for work in running {
                switch work {
                case .job(let job):
                    job.runSynchronously(on: asUnownedTaskExecutor())
                case .closure(let closure):
                    closure()
                }
            }
            running.removeAll(keepingCapacity: true)
        }
    }

    private func runDueTimers() {
        let now = ContinuousClock.now
        while let fire = timers.popDue(now: now) {
            fire()
        }
    }

    private func runTurnObservers() {
        // Observers may add observers (a flush can resume work that writes again); loop until quiet.
        // The observers run from `notifying` while new ones go to `turnObservers`; swapping the two arrays
        // reuses both buffers (copying and then clearing a shared buffer would allocate every turn).
        var rounds = 0
        while !turnObservers.isEmpty && rounds < 4 {
            swap(&turnObservers, &notifying)
            for observer in notifying { observer.endOfTurn() }
            notifying.removeAll(keepingCapacity: true)
            rounds += 1
        }
    }
}
