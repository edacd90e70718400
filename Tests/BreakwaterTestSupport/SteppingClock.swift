@_spi(Locking) import BreakwaterCore

/// A manual clock for breaker and retry time: time moves only when a test advances it, sleeps honour
/// cancellation, and a test can wait until someone sleeps (so the test never sleeps itself).
/// Shared by the resilience and echo test targets.
public final class SteppingClock: Clock, Sendable {
    public struct Instant: InstantProtocol, CustomStringConvertible {
        public var offset: Duration

        public init(offset: Duration) { self.offset = offset }

        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
        public var description: String { "t+\(offset)" }
    }

    private struct Sleeper {
        var id: Int
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [Sleeper] = []
        var nextID = 0
        var cancelledEarly: Set<Int> = []
        var requested: [Duration] = []
        var waiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = TSanMutex(State())

    public init() {}

    public var now: Instant { state.withLock { $0.now } }
    public var minimumResolution: Duration { .zero }

    /// Every sleep asked for, in order, as a duration from the time it was asked.
    public var requestedSleeps: [Duration] { state.withLock { $0.requested } }
    /// Sleeps still pending.
    public var pendingSleepers: Int { state.withLock { $0.sleepers.count } }

    /// Moves time forward and wakes every sleeper whose deadline has come.
    public func advance(by duration: Duration) {
        let due = state.withLock { s -> [Sleeper] in
            s.now = s.now.advanced(by: duration)
            let now = s.now
            let due = s.sleepers.filter { $0.deadline <= now }
            s.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Returns once at least `count` sleeps are pending.
    public func waitForSleepers(atLeast count: Int) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s -> Bool in
                if s.sleepers.count >= count { return true }
                s.waiters.append((count, c))
                return false
            }
            if ready { c.resume() }
        }
    }

    public func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                enum Step { case wait([CheckedContinuation<Void, Never>]), done, cancelled }
                let step = state.withLock { s -> Step in
                    if s.cancelledEarly.remove(id) != nil { return .cancelled }
                    s.requested.append(s.now.duration(to: deadline))
                    if deadline <= s.now { return .done }
                    s.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: c))
                    let count = s.sleepers.count
                    let ready = s.waiters.filter { $0.count <= count }.map(\.continuation)
                    s.waiters.removeAll { $0.count <= count }
                    return .wait(ready)
                }
                switch step {
                case .wait(let ready): for waiter in ready { waiter.resume() }
                case .done: c.resume()
                case .cancelled: c.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let sleeper = state.withLock { s -> Sleeper? in
                if let index = s.sleepers.firstIndex(where: { $0.id == id }) { return s.sleepers.remove(at: index) }
                s.cancelledEarly.insert(id)
                return nil
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }
}
