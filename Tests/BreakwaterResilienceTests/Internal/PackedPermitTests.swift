import BreakwaterCore
import Testing

@testable import BreakwaterResilience

/// A CLOSED call's permit packs into 16 bytes for its outcome recorder and must come back unchanged,
/// whether the breaker timed its admission (slow-call rule) or not (an admission time of zero).
@Suite("PackedPermit")
struct PackedPermitTests {
    private func permit(generation: UInt64, probeID: UInt64 = 0, admittedAt: Duration) -> CircuitBreaker.Permit {
        CircuitBreaker.Permit(inner: .init(generation: generation, probeID: probeID, admittedAt: BreakerInstant(offset: admittedAt)))
    }

    @Test(
        "a permit comes back with its generation, admission time and flag",
        arguments: [Duration.zero, .nanoseconds(1), .milliseconds(1_234), .seconds(86_400 * 365) + .nanoseconds(7)])
    func roundTrip(admittedAt: Duration) throws {
        for expired in [false, true] {
            let original = permit(generation: 41, admittedAt: admittedAt)
            let packed = try #require(PackedPermit(original, expiredAtStart: expired))
            #expect(packed.permit == original)
            #expect(packed.permit.inner.admittedAt.offset == admittedAt)
            #expect(packed.expiredAtStart == expired)
        }
    }

    @Test("below a nanosecond the admission time is cut to whole nanoseconds")
    func subNanosecondsAreTruncated() throws {
        let packed = try #require(PackedPermit(permit(generation: 1, admittedAt: .nanoseconds(5) + .init(secondsComponent: 0, attosecondsComponent: 300)), expiredAtStart: false))
        #expect(packed.permit.inner.admittedAt.offset == .nanoseconds(5))
    }

    @Test("a probe, a generation past 2^62 and an admission time past Int64 nanoseconds do not pack")
    func unpackable() {
        #expect(PackedPermit(permit(generation: 1, probeID: 3, admittedAt: .zero), expiredAtStart: false) == nil)
        #expect(PackedPermit(permit(generation: 1 << 62, admittedAt: .zero), expiredAtStart: false) == nil)
        #expect(PackedPermit(permit(generation: 1, admittedAt: .seconds(Int64.max / 2)), expiredAtStart: false) == nil)
    }
}
