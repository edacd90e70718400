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
        guard !permit.isProbe, permit.generation < 1 << 62 else { return nil }
        let offset = permit.inner.admittedAt.offset
        if offset == .zero {
            // A breaker without the slow-call rule does not time its calls (no clock read at admission):
            // zero packs and unpacks without the 128-bit division and multiplication below.
            admittedAtNanoseconds = 0
        } else {
            let (seconds, attoseconds) = offset.components
            let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
            guard !overflow else { return nil }
            admittedAtNanoseconds = scaled + attoseconds / 1_000_000_000
        }
        generationAndFlag = permit.generation << 1 | (expiredAtStart ? 1 : 0)
    }

    var permit: CircuitBreaker.Permit {
        let admittedAt = admittedAtNanoseconds == 0 ? Duration.zero : .nanoseconds(admittedAtNanoseconds)
        return CircuitBreaker.Permit(inner: .init(
            generation: generationAndFlag >> 1, probeID: 0, admittedAt: BreakerInstant(offset: admittedAt)))
    }

    var expiredAtStart: Bool { generationAndFlag & 1 == 1 }
}
