import BreakwaterCore
/// The `grpc-timeout` header codec: at most 8 ASCII digits followed by a unit
/// (`H` hours, `M` minutes, `S` seconds, `m` milliseconds, `u` microseconds, `n` nanoseconds).
public enum GRPCTimeout {
    /// The largest value that fits: 8 digits.
    static let maxValue: Int64 = 99_999_999

    private static let units: [(unit: Character, nanos: Int64)] = [
        ("n", 1),
        ("u", 1_000),
        ("m", 1_000_000),
        ("S", 1_000_000_000),
        ("M", 60_000_000_000),
        ("H", 3_600_000_000_000),
    ]

    /// Encodes `duration` in the finest unit whose value fits in 8 digits, rounding up so the peer never
    /// sees less time than the caller has. Negative durations encode as `0n`; huge ones saturate.
    public static func encode(_ duration: Duration) -> String {
        // Both checked first: `Duration.components` traps once the seconds do not fit in an Int64,
        // on either side of zero.
        if duration <= .zero { return "0n" }
        if duration >= .seconds(maxValue * 3600) { return "\(maxValue)H" }
        let (seconds, attos) = duration.components
        let nanos = Int128(seconds) * 1_000_000_000 + Int128((attos + 999_999_999) / 1_000_000_000)
        for (unit, perUnit) in units {
            let per = Int128(perUnit)
            let value = nanos / per + (nanos % per == 0 ? 0 : 1)
            if value <= Int128(maxValue) { return "\(value)\(unit)" }
        }
        return "\(maxValue)H"
    }

    /// Decodes a header value; nil when it is not 1 to 8 digits followed by a known unit.
    public static func decode(_ value: String) -> Duration? {
        let bytes = Array(value.utf8)
        guard bytes.count >= 2, bytes.count <= 9, let unitByte = bytes.last else { return nil }
        var amount: Int64 = 0
        for b in bytes.dropLast() {
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { return nil }
            amount = amount * 10 + Int64(b - UInt8(ascii: "0"))
        }
        switch unitByte {
        case UInt8(ascii: "n"): return .nanoseconds(amount)
        case UInt8(ascii: "u"): return .microseconds(amount)
        case UInt8(ascii: "m"): return .milliseconds(amount)
        case UInt8(ascii: "S"): return .seconds(amount)
        case UInt8(ascii: "M"): return .seconds(amount * 60)
        case UInt8(ascii: "H"): return .seconds(amount * 3600)
        default: return nil
        }
    }
}
