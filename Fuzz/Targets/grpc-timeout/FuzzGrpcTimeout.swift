// GRPCTimeout.decode and encode.
//
// Input byte 0 picks the mode.
// - Even: the rest, as a string, is decoded. Checked against a reference reading of the grammar
//   (1 to 8 ASCII digits, then one of H M S m u n): the same verdict and value; a decoded value is
//   re-encoded and decodes to exactly the same duration.
// - Odd: 16 bytes are a duration in attoseconds (shifted right by the next byte, so every
//   magnitude is reached), encoded. Checked: the header is valid and decodes; durations <= 0 give
//   "0n"; over 99999999H saturates; otherwise the value decoded is never less than the duration, at
//   most one unit more, and in the finest unit whose count fits in 8 digits.
import BreakwaterCore
import BreakwaterWire
import FuzzSupport

private let units: [(byte: UInt8, attos: Int128)] = [
    (UInt8(ascii: "n"), 1_000_000_000),
    (UInt8(ascii: "u"), 1_000_000_000_000),
    (UInt8(ascii: "m"), 1_000_000_000_000_000),
    (UInt8(ascii: "S"), 1_000_000_000_000_000_000),
    (UInt8(ascii: "M"), 60_000_000_000_000_000_000),
    (UInt8(ascii: "H"), 3_600_000_000_000_000_000_000),
]
private let maxValue: Int128 = 99_999_999

private func reference(_ bytes: [UInt8]) -> Int128? {
    guard bytes.count >= 2, bytes.count <= 9 else { return nil }
    var value: Int128 = 0
    for b in bytes.dropLast() {
        guard b >= 0x30, b <= 0x39 else { return nil }
        value = value * 10 + Int128(b - 0x30)
    }
    guard let unit = units.first(where: { $0.byte == bytes.last! }) else { return nil }
    return value * unit.attos
}

private func decodeMode(_ bytes: [UInt8]) {
    let string = String(decoding: bytes, as: UTF8.self)
    let decoded = GRPCTimeout.decode(string)
    let expected = reference(Array(string.utf8))
    check(decoded?.attoseconds == expected, "decode('\(string)') = \(String(describing: decoded)), expected \(String(describing: expected)) as")
    guard let decoded else { return }
    check(decoded >= .zero, "negative timeout")
    let again = GRPCTimeout.encode(decoded)
    check(GRPCTimeout.decode(again) == decoded, "'\(string)' -> \(decoded) -> '\(again)' -> \(String(describing: GRPCTimeout.decode(again)))")
}

private func encodeMode(_ reader: inout FuzzReader) {
    let high = reader.uint64()
    let low = reader.uint64()
    let raw = Int128(Int64(bitPattern: high)) << 64 | Int128(low)
    let attos = raw >> Int128(reader.byte() % 128)
    let duration = Duration(attoseconds: attos)
    let header = GRPCTimeout.encode(duration)
    let bytes = Array(header.utf8)
    guard let value = reference(bytes), let decoded = GRPCTimeout.decode(header) else {
        return check(false, "encode(\(attos) as) = '\(header)' does not decode")
    }
    check(decoded.attoseconds == value, "decode disagrees with the reference on '\(header)'")
    if attos <= 0 {
        return check(header == "0n", "encode(\(attos) as) = '\(header)', expected 0n")
    }
    if attos >= maxValue * units.last!.attos {
        return check(header == "99999999H", "encode(\(attos) as) = '\(header)', expected saturation")
    }
    let unit = units.first(where: { $0.byte == bytes.last! })!.attos
    check(value >= attos, "encode(\(attos) as) = '\(header)' is less time")
    check(value - attos < unit, "encode(\(attos) as) = '\(header)' is over a unit more")
    if let finer = units.last(where: { $0.attos < unit }) {
        let count = (attos + finer.attos - 1) / finer.attos
        check(count > maxValue, "encode(\(attos) as) = '\(header)' but \(count) of a finer unit fits")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    var reader = FuzzReader(fuzzBytes(data, count))
    if reader.byte() & 1 == 0 {
        decodeMode(reader.rest())
    } else {
        encodeMode(&reader)
    }
    return 0
}
