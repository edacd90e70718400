@_spi(Locking) import BreakwaterCore
import CBreakwaterShims
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Something registered with an event loop for readiness events on a file descriptor.
protocol EventLoopFDHandler: AnyObject {
    /// Called on the loop thread with the `epoll` event mask.
    func handleEvents(_ events: UInt32)
}

/// Something that wants to run once at the end of the current loop turn (e.g. to flush coalesced writes).
protocol EventLoopTurnObserver: AnyObject {
    /// Called on the loop thread after the turn's events, commands and timers were processed.
    func endOfTurn()
}

/// One thread running `epoll`, with an `eventfd` to wake it up.
///
/// An event loop owns its sockets and their HTTP/2 sessions: nothing else touches them. Other threads hand
/// it work with `execute(_:)`; commands that arrive while the loop is awake are picked up without a wake-up
/// write. The loop is also a Swift `TaskExecutor`, so tasks can run on the thread that owns their stream
/// (`withTaskExecutorPreference` or `Task(executorPreference:)`).
///
/// Code running on the loop must never block it.
public final class EventLoop: TaskExecutor, @unchecked Sendable {
    // Safety: `queue` is protected by its Mutex and `threadID` is atomic; every other stored var
    // (`handlers`, `timers`, `turnObservers`, `readBuffer`) is touched only on this loop's own thread.
    // Exclusivity: the loop-confined vars are `@exclusivity(unchecked)`, for the reasons given in
    // `HTTP2Connection` (one thread; `timers.popDue` returns before the timer fires; a batch runs from
    // `running` while new work goes to the queue's array).

    private enum Work {
        case job(UnownedJob)
        case closure(@Sendable () -> Void)
    }

    private struct Queue {
        var items: [Work] = []
        var sleeping = false
        var wakePending = false
    }

    /// A short name for diagnostics, e.g. `bw-loop-0`.
    public let name: String
    private let epfd: Int32
    private let wakeFD: Int32
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

    /// Creates and starts a loop on a new thread.
    public init(name: String = "bw-loop") {
        self.name = name
        epfd = bw_epoll_create()
        wakeFD = bw_eventfd(0, 1)
        readBuffer = .allocate(byteCount: 64 * 1024, alignment: 16)
        precondition(epfd >= 0 && wakeFD >= 0, "cannot create epoll or eventfd: errno \(errno)")
        // Edge-triggered: every write is reported once, so the loop never reads the eventfd (one syscall
        // less per wake-up); the counter just grows (see `wake`).
        _ = bw_epoll_ctl(epfd, 1, wakeFD, BW_EPOLLIN | EventLoop.edgeTriggered)
        let started = ThreadSpawner.spawn(name: name) { [self] in self.run() }
        precondition(started, "cannot start event loop thread")
    }

    /// True when called on this loop's thread.
    public var inEventLoop: Bool {
        threadID.load(ordering: .relaxed) == UInt(pthread_self())
    }

    /// Runs `work` on the loop thread, after the work already queued.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        push(.closure(work))
    }

    /// Runs `work` at once when called on the loop thread, otherwise queues it.
    func executeOrRun(_ work: @escaping @Sendable () -> Void) {
        if inEventLoop { work() } else { push(.closure(work)) }
    }

    /// `TaskExecutor`: runs a job on the loop thread.
    public func enqueue(_ job: consuming ExecutorJob) {
        push(.job(UnownedJob(job)))
    }

    private func push(_ work: Work) {
        let wake = queue.withLock { q -> Bool in
            q.items.append(work)
            if q.sleeping && !q.wakePending {
                q.wakePending = true
                return true
            }
            return false
        }
        if wake { self.wake() }
    }

    /// EPOLLET (Glibc's overlay does not export the epoll constants).
    private static let edgeTriggered: UInt32 = 1 << 31

    private func wake() {
        var one: UInt64 = 1
        while Glibc.write(wakeFD, &one, 8) < 0 {
            switch errno {
            case EINTR:
                continue
            case EAGAIN:
                // The counter is full (after 2^64 - 2 wake-ups without a read): empty it and write again.
                var value: UInt64 = 0
                _ = Glibc.read(wakeFD, &value, 8)
            default:
                return
            }
        }
    }

    // MARK: Loop-thread API

    /// Registers a file descriptor. Loop thread only.
    func register(fd: Int32, events: UInt32, handler: any EventLoopFDHandler) -> Bool {
        guard bw_epoll_ctl(epfd, 1, fd, events) == 0 else { return false }
        handlers[fd] = handler
        return true
    }

    /// Changes the events watched for a registered file descriptor. Loop thread only.
    func modify(fd: Int32, events: UInt32) {
        _ = bw_epoll_ctl(epfd, 3, fd, events)
    }

    /// Unregisters a file descriptor (the caller closes it). Loop thread only.
    func unregister(fd: Int32) {
        guard handlers.removeValue(forKey: fd) != nil else { return }
        _ = bw_epoll_ctl(epfd, 2, fd, 0)
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

    // MARK: The loop

    private func run() {
        threadID.store(UInt(pthread_self()), ordering: .relaxed)
        let maxEvents = 64
        let events = UnsafeMutablePointer<bw_epoll_result>.allocate(capacity: maxEvents)
        defer { events.deallocate() }
        while true {
            runQueuedWork()
            runDueTimers()
            runTurnObservers()

            // Decide how long to sleep.
            var timeoutMillis: Int32 = -1
            if let next = timers.nextDeadline() {
                let remaining = ContinuousClock.now.duration(to: next)
                if remaining <= .zero {
                    timeoutMillis = 0
                } else {
                    let (seconds, attos) = remaining.components
                    let millis = seconds * 1000 + (attos + 999_999_999_999_999) / 1_000_000_000_000_000
                    timeoutMillis = Int32(clamping: millis)
                }
            }
            let mustPoll = queue.withLock { q -> Bool in
                if q.items.isEmpty {
                    q.sleeping = true
                    return false
                }
                return true
            }
            if mustPoll || !turnObservers.isEmpty { timeoutMillis = 0 }
            let n = bw_epoll_wait(epfd, events, Int32(maxEvents), timeoutMillis)
            if !mustPoll {
                queue.withLock { q in
                    q.sleeping = false
                    q.wakePending = false
                }
            }
            if n > 0 {
                for i in 0..<Int(n) {
                    let fd = events[i].fd
                    let mask = events[i].events
                    if fd == wakeFD { continue }
                    handlers[fd]?.handleEvents(mask)
                }
            }
        }
    }

    private func runQueuedWork() {
        // Drain a bounded number of batches so that I/O is not starved by work that enqueues work.
        for _ in 0..<16 {
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
