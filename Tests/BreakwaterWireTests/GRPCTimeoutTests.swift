import BreakwaterTestSupport
import Testing

import BreakwaterCore
@testable import BreakwaterWire

@Suite("GRPCTimeout")
struct GRPCTimeoutTests {
    @Test(
        "encode picks the finest unit whose value fits in 8 digits",
        arguments: [
            (Duration.nanoseconds(1), "1n"),
            (.nanoseconds(99_999_999), "99999999n"),
            // 100 ms is 100,000,000 ns: nine digits, so microseconds.
            (.milliseconds(100), "100000u"),
            (.nanoseconds(100_000_000), "100000u"),
            (.seconds(1), "1000000u"),
            (.microseconds(99_999_999), "99999999u"),
            (.microseconds(100_000_000), "100000m"),
            (.seconds(100), "100000m"),
            (.milliseconds(99_999_999), "99999999m"),
            (.milliseconds(100_000_000), "100000S"),
            (.seconds(99_999_999), "99999999S"),
            (.seconds(100_000_000), "1666667M"),
            (.seconds(60 * 99_999_999), "99999999M"),
            (.seconds(60 * 100_000_000), "1666667H"),
        ]
    )
    func encodeUnits(duration: Duration, expected: String) {
        #expect(GRPCTimeout.encode(duration) == expected)
    }

    @Test(
        "encode rounds up so the peer never sees less time",
        arguments: [
            // 100,000,001 ns does not fit in ns; 100,000.001 us rounds up to 100,001 us.
            (Duration.nanoseconds(100_000_001), "100001u"),
            (.nanoseconds(99_999_999_001), "100000m"),
            (.nanoseconds(100_000_000_001), "100001m"),
            // Sub-nanosecond parts round up to a whole nanosecond.
            (.nanoseconds(1) + .init(secondsComponent: 0, attosecondsComponent: 1), "2n"),
            (.init(secondsComponent: 0, attosecondsComponent: 1), "1n"),
            (.seconds(1) + .init(secondsComponent: 0, attosecondsComponent: 1), "1000001u"),
        ]
    )
    func encodeRoundsUp(duration: Duration, expected: String) {
        #expect(GRPCTimeout.encode(duration) == expected)
    }

    @Test(
        "zero and negative durations encode as 0n",
        arguments: [
            Duration.zero, .nanoseconds(-1), .milliseconds(-500), .seconds(-1), .seconds(-3600),
            .init(secondsComponent: 0, attosecondsComponent: -1),
        ]
    )
    func nonPositive(duration: Duration) {
        #expect(GRPCTimeout.encode(duration) == "0n")
    }

    @Test("huge durations saturate instead of overflowing", arguments: [Int64.max, Int64.max / 2, 10_000_000_000_000])
    func saturates(seconds: Int64) throws {
        let encoded = GRPCTimeout.encode(.seconds(seconds))
        #expect(encoded.last == "H")
        #expect(encoded.utf8.count <= 9)
        let decoded = try #require(GRPCTimeout.decode(encoded))
        // At least Int64.max nanoseconds (about 292 years), the most the encoder can represent.
        #expect(decoded >= .nanoseconds(Int64.max))
    }

    /// `Duration` holds up to about 1.7e20 seconds, but `Duration.components` traps once the seconds do not
    /// fit in an Int64: `encode` must saturate before it gets there. An exit test, so a trap fails one test.
    @Test("durations beyond Int64.max seconds saturate too (exit test)")
    func saturatesBeyondInt64Seconds() async {
        await #expect(processExitsWith: .success) {
            let encoded = GRPCTimeout.encode(.seconds(Int64.max) * 4)
            precondition(encoded == "99999999H")
        }
    }

    /// The same trap on the negative side, found by the grpc-timeout fuzz target: a deadline so far in
    /// the past that its seconds do not fit in an Int64 must encode as 0n, not crash.
    @Test("durations below Int64.min seconds encode as 0n (exit test)")
    func negativeBeyondInt64Seconds() async {
        await #expect(processExitsWith: .success) {
            precondition(GRPCTimeout.encode(.seconds(Int64.min) * 4) == "0n")
            precondition(GRPCTimeout.encode(.seconds(Int64.min) - .nanoseconds(1)) == "0n")
        }
    }

    @Test(
        "every unit decodes",
        arguments: [
            ("7n", Duration.nanoseconds(7)),
            ("7u", .microseconds(7)),
            ("7m", .milliseconds(7)),
            ("7S", .seconds(7)),
            ("7M", .seconds(7 * 60)),
            ("7H", .seconds(7 * 3600)),
            ("0n", .zero),
            ("0H", .zero),
            ("00000001S", .seconds(1)),
        ]
    )
    func decodeUnits(value: String, expected: Duration) {
        #expect(GRPCTimeout.decode(value) == expected)
    }

    @Test(
        "8-digit values decode in every unit",
        arguments: [
            ("99999999n", Duration.nanoseconds(99_999_999)),
            ("99999999u", .microseconds(99_999_999)),
            ("99999999m", .milliseconds(99_999_999)),
            ("99999999S", .seconds(99_999_999)),
            ("99999999M", .seconds(99_999_999 * 60)),
            ("99999999H", .seconds(99_999_999 * 3600)),
            ("12345678m", .milliseconds(12_345_678)),
        ]
    )
    func decodeEightDigits(value: String, expected: Duration) {
        #expect(GRPCTimeout.decode(value) == expected)
    }

    @Test(
        "malformed values are rejected",
        arguments: [
            "", "n", "S", "1", "12", "123456789n", "100000000S", "000000001S", "1s", "1h", "1x", "1 S", " 1S", "1S ",
            "-1S", "+1S", "1.5S", "1e3m", "abcS", "1SS", "S1", "１S", "1é", "0x10m",
        ]
    )
    func rejects(value: String) {
        #expect(GRPCTimeout.decode(value) == nil)
    }

    @Test("property: decode(encode(d)) is at least d and less than d plus one unit (seeded, 2000 runs)")
    func roundTrip() throws {
        var rng = SeededRandom(seed: 42)
        let unitNanos: [Character: Int64] = [
            "n": 1, "u": 1_000, "m": 1_000_000, "S": 1_000_000_000, "M": 60_000_000_000, "H": 3_600_000_000_000,
        ]
        for _ in 0..<2000 {
            // Spread over every magnitude from nanoseconds to decades.
            let magnitude = Int64.random(in: 0...18, using: &rng)
            var limit: Int64 = 1
            for _ in 0..<magnitude { limit *= 10 }
            let nanos = Int64.random(in: 0...limit, using: &rng)
            let attos = Int64.random(in: 0..<1_000_000_000, using: &rng)
            let d =
                Duration(secondsComponent: nanos / 1_000_000_000, attosecondsComponent: (nanos % 1_000_000_000) * 1_000_000_000)
                + Duration(secondsComponent: 0, attosecondsComponent: attos)
            guard d > .zero else { continue }
            let encoded = GRPCTimeout.encode(d)
            let decoded = try #require(GRPCTimeout.decode(encoded), "\(d) -> \(encoded)")
            let unitChar = try #require(encoded.last)
            let unit = try #require(unitNanos[unitChar])
            #expect(decoded >= d, "\(d) -> \(encoded)")
            #expect(decoded < d + .nanoseconds(unit), "\(d) -> \(encoded)")
            #expect(encoded.utf8.count <= 9, "\(d) -> \(encoded)")
            // The finest unit that fits: one unit finer would need more than 8 digits.
            let finer: [Character: Int64] = ["u": 1, "m": 1_000, "S": 1_000_000, "M": 1_000_000_000, "H": 60_000_000_000]
            if let f = finer[encoded.last!] {
                let totalNanos = d.components.seconds * 1_000_000_000 + (d.components.attoseconds + 999_999_999) / 1_000_000_000
                let finerValue = totalNanos / f + (totalNanos % f == 0 ? 0 : 1)
                #expect(finerValue > 99_999_999, "\(d) -> \(encoded) but \(finerValue) in the finer unit fits")
            }
        }
    }

    @Test("property: every valid header value decodes and re-encodes to the same duration")
    func decodeThenEncode() throws {
        var rng = SeededRandom(seed: 4242)
        for _ in 0..<1000 {
            let unit = ["n", "u", "m", "S", "M", "H"].randomElement(using: &rng)!
            // Past about 2.56 million hours the encoder saturates (Int64 nanoseconds), so stay below.
            let value = Int64.random(in: 1...(unit == "H" ? 2_562_047 : 99_999_999), using: &rng)
            let header = "\(value)\(unit)"
            let d = try #require(GRPCTimeout.decode(header))
            // Re-encoding may choose a finer unit, but must decode to the very same duration.
            #expect(GRPCTimeout.decode(GRPCTimeout.encode(d)) == d, "\(header)")
        }
    }
}
