/// The transport's own stream-reset rate limit, for a libnghttp2 without one: a token bucket of
/// `burst` tokens refilled at `perSecond`, one token per RST_STREAM received. Pure; time is passed in.
struct ResetRateLimiter {
    let burst: Double
    let perSecond: Double
    private var tokens: Double
    private var last: ContinuousClock.Instant?

    init(burst: Int, perSecond: Int) {
        self.burst = Double(max(1, burst))
        self.perSecond = Double(max(1, perSecond))
        tokens = self.burst
    }

    /// One RST_STREAM arrived at `now`; false when the peer is over the limit.
    mutating func admit(at now: ContinuousClock.Instant) -> Bool {
        if let last {
            let elapsed = last.duration(to: now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            tokens = min(burst, tokens + max(0, seconds) * perSecond)
        }
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
