@_spi(Locking) import BreakwaterCore

/// Resolves a host name to every address it has (A and AAAA records, through `getaddrinfo` on a thread
/// of its own, never on an event loop), each address one endpoint: the `dns:///host:port` target.
///
/// The name is looked up when the transport starts, and again when a connection fails or is lost
/// (``requestResolution()``), never sooner than ``minimumResolutionInterval`` after the previous lookup.
/// A failed lookup is reported as a ``NameResolution`` with an error; the transport keeps the endpoints
/// it has. A lookup that answers the same list as before is not reported again.
public struct DNSResolver<C: Clock>: NameResolver where C.Duration == Duration, C: Sendable, C.Instant: Sendable {
    /// The name and port looked up.
    public let host: String
    public let port: Int
    /// The shortest time between two lookups (default 30 s).
    public let minimumResolutionInterval: Duration
    let clock: C
    let lookup: @Sendable (String, Int) async -> Result<[Endpoint], RPCError>
    private let state: Shared

    final class Shared: Sendable {
        struct State {
            var schedule: ResolutionSchedule<C.Instant>
            /// The resolving task waits here for a request.
            var waiter: CheckedContinuation<Void, Never>?
        }
        let lock: TSanMutex<State>
        init(_ interval: Duration) { lock = TSanMutex(State(schedule: ResolutionSchedule(minimumInterval: interval))) }
    }

    /// A resolver for `host:port` with `clock` measuring the interval between lookups.
    public init(host: String, port: Int, minimumResolutionInterval: Duration = .seconds(30), clock: C) {
        self.init(host: host, port: port, minimumResolutionInterval: minimumResolutionInterval, clock: clock, lookup: Self.systemLookup)
    }

    /// A resolver with its own lookup (tests: answers that change).
    init(
        host: String, port: Int, minimumResolutionInterval: Duration, clock: C,
        lookup: @escaping @Sendable (String, Int) async -> Result<[Endpoint], RPCError>
    ) {
        self.host = host
        self.port = port
        self.minimumResolutionInterval = minimumResolutionInterval
        self.clock = clock
        self.lookup = lookup
        self.state = Shared(minimumResolutionInterval)
    }

    static func systemLookup(host: String, port: Int) async -> Result<[Endpoint], RPCError> {
        await SocketAddress.resolve(host: host, port: port).map { addresses in
            var seen = Set<Endpoint>()
            return addresses.map { Endpoint(host: $0.host, port: $0.port) }.filter { seen.insert($0).inserted }
        }
    }

    /// The lookups' answers, until the sequence's consumer stops (cancelling the lookup task).
    public func resolutions() -> AsyncStream<NameResolution> {
        let (stream, continuation) = AsyncStream<NameResolution>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let task = Task { [self] in
            var last: [Endpoint]?
            while !Task.isCancelled {
                await waitUntilDue()
                if Task.isCancelled { break }
                switch await lookup(host, port) {
                case .success(let endpoints):
                    if endpoints != last { continuation.yield(NameResolution(endpoints: endpoints)) }
                    last = endpoints
                case .failure(let error):
                    continuation.yield(NameResolution(error: error))
                    last = nil
                }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in
            task.cancel()
            // Wakes the task if it waits for a request.
            state.lock.withLock { s in
                let waiter = s.waiter
                s.waiter = nil
                return waiter
            }?.resume()
        }
        return stream
    }

    /// Returns when a lookup was asked for and its earliest start has come (or the task was cancelled).
    private func waitUntilDue() async {
        while !Task.isCancelled {
            let now = clock.now
            let next = state.lock.withLock { s -> DNSWait<C.Instant> in
                if s.schedule.start(now: now) { return .go }
                if let due = s.schedule.nextStart(now: now) { return .sleep(due) }
                return .wait
            }
            switch next {
            case .go:
                return
            case .sleep(let due):
                try? await clock.sleep(until: due, tolerance: nil)
            case .wait:
                await waitForRequest()
            }
        }
    }

    /// Suspends until ``requestResolution()`` or cancellation.
    private func waitForRequest() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.lock.withLock { s -> Bool in
                    if s.schedule.requested || Task.isCancelled { return true }
                    s.waiter = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            state.lock.withLock { s in
                let waiter = s.waiter
                s.waiter = nil
                return waiter
            }?.resume()
        }
    }

    /// A connection failed: look again, no sooner than the minimum interval after the last lookup.
    public func requestResolution() {
        let now = clock.now
        state.lock.withLock { s in
            _ = s.schedule.request(now: now)
            let waiter = s.waiter
            s.waiter = nil
            return waiter
        }?.resume()
    }
}

extension DNSResolver where C == ContinuousClock {
    /// A resolver for `host:port` on the continuous clock.
    public init(host: String, port: Int, minimumResolutionInterval: Duration = .seconds(30)) {
        self.init(host: host, port: port, minimumResolutionInterval: minimumResolutionInterval, clock: ContinuousClock())
    }
}

/// What the resolving task does next.
private enum DNSWait<Instant> {
    /// Look up now.
    case go
    /// A lookup is asked for: sleep until it may start.
    case sleep(Instant)
    /// Nothing is asked for: wait for a request.
    case wait
}
