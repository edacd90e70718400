// PercentEncoding, the grpc-message codec.
//
// The input, as a string (invalid UTF-8 repaired, as the transport does), is both encoded and
// decoded. Checked: the encoding is printable ASCII with every `%` starting an upper-case `%XX`
// escape; it decodes back to the same bytes; a string needing no escape is sent as it is; decoding
// agrees with a byte-level reference (valid `%XX` escapes decoded, anything else kept, then UTF-8
// repaired).
import BreakwaterCore
import BreakwaterWire
import FuzzSupport

private func hexValue(_ b: UInt8) -> UInt8? {
    switch b {
    case 0x30...0x39: b - 0x30
    case 0x41...0x46: b - 0x41 + 10
    case 0x61...0x66: b - 0x61 + 10
    default: nil
    }
}

private func referenceDecode(_ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    var i = 0
    while i < bytes.count {
        if bytes[i] == 0x25, i + 2 < bytes.count, let hi = hexValue(bytes[i + 1]), let lo = hexValue(bytes[i + 2]) {
            out.append(hi << 4 | lo)
            i += 3
        } else {
            out.append(bytes[i])
            i += 1
        }
    }
    return Array(String(decoding: out, as: UTF8.self).utf8)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let string = String(decoding: fuzzBytes(data, count), as: UTF8.self)
    let bytes = utf8Bytes(string)

    let encoded = PercentEncoding.encode(string)
    let wire = utf8Bytes(encoded)
    var i = 0
    while i < wire.count {
        check(wire[i] >= 0x20 && wire[i] <= 0x7E, "byte \(wire[i]) at \(i) of the encoding is not printable ASCII")
        if wire[i] == 0x25 {
            check(i + 2 < wire.count, "truncated escape at the end of the encoding")
            let escape = wire[i + 1...i + 2]
            check(escape.allSatisfy { hexValue($0) != nil && !(0x61...0x66).contains($0) }, "bad escape at \(i)")
            i += 3
        } else {
            i += 1
        }
    }
    let needsEscape = bytes.contains { $0 < 0x20 || $0 > 0x7E || $0 == 0x25 }
    if !needsEscape { check(wire == bytes, "a plain message was changed") }
    check(wire.count == bytes.count + 2 * bytes.filter { $0 < 0x20 || $0 > 0x7E || $0 == 0x25 }.count, "encoding length")
    check(utf8Bytes(PercentEncoding.decode(encoded)) == bytes, "decode(encode(s)) != s")

    let decoded = utf8Bytes(PercentEncoding.decode(string))
    check(decoded == referenceDecode(bytes), "decode differs from the reference")
    return 0
}
