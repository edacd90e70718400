/// A breaker permit that is not a probe (every permit in CLOSED), and whether its attempt's deadline had
/// passed before it started, in 16 bytes: with the breaker's reference an outcome recorder is 24 bytes and
/// sits inline in an observer existential, so recording a CLOSED call's outcome allocates nothing.
struct PackedPermit: Sendable {
    /// The permit's generation shifted left by one; bit 0 is `expiredAtStart`.
    private let generationAndFlag: UInt64
    /// The permit's admission time, in nanoseconds on the breaker's timeline.
    private let admittedAtNanoseconds: Int64

    /// `nil` for a probe, or a permit whose fields do not fit.
    init?(_ permit: CircuitBreaker.Permit, expiredAtStart: Bool) {
        let (seconds, attoseconds) = permit.inner.admittedAt.offset.components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !permit.isProbe, permit.generation < 1 << 62, !overflow else { return nil }
        generationAndFlag = permit.generation << 1 | (expiredAtStart ? 1 : 0)
        admittedAtNanoseconds = scaled + attoseconds / 1_000_000_000
    }

    var permit: CircuitBreaker.Permit {
        CircuitBreaker.Permit(inner: .init(
            generation: generationAndFlag >> 1, probeID: 0,
            admittedAt: BreakerInstant(offset: .nanoseconds(admittedAtNanoseconds))))
    }

    var expiredAtStart: Bool { generationAndFlag & 1 == 1 }
}
