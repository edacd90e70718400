/// When a resolver that can look again (DNS) does: at once the first time, then only when asked (a
/// connection failed), and never sooner than `minimumInterval` after the previous lookup started
/// (gRPC's `min_time_between_resolutions`, 30 s by default), so a flapping endpoint cannot turn into a
/// flood of lookups. A plain value; the resolver sleeps and looks.
struct ResolutionSchedule<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration, Instant: Sendable {
    let minimumInterval: Duration
    /// When the last lookup started.
    private(set) var lastStart: Instant?
    /// A lookup was asked for and has not started.
    private(set) var requested = true

    init(minimumInterval: Duration) {
        self.minimumInterval = minimumInterval
    }

    /// A lookup is asked for (at `now`): the instant it may start (`now` or later).
    mutating func request(now: Instant) -> Instant {
        requested = true
        return earliestStart(now: now)
    }

    /// When the next lookup may start, if one was asked for; nil when none is due.
    func nextStart(now: Instant) -> Instant? {
        requested ? earliestStart(now: now) : nil
    }

    private func earliestStart(now: Instant) -> Instant {
        guard let lastStart else { return now }
        let allowed = lastStart.advanced(by: minimumInterval)
        return allowed > now ? allowed : now
    }

    /// A lookup starts at `now`. Returns false (and changes nothing) when none was asked for or it is too
    /// early.
    mutating func start(now: Instant) -> Bool {
        guard let due = nextStart(now: now), due <= now else { return false }
        requested = false
        lastStart = now
        return true
    }
}
