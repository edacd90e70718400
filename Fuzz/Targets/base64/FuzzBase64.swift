// Base64 for -bin metadata.
//
// The input is both encoded (as bytes) and decoded (as a string). Checked: the encoding is unpadded
// standard base64 of the right length and decodes back; decoding accepts exactly what a reference
// accepts (standard alphabet, trailing `=` ignored, no length of 4n+1) with the same bytes; what it
// accepts re-encodes to the same text up to the unused low bits of the last character.
import BreakwaterCore
import BreakwaterWire
import FuzzSupport

private let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

private func value(_ c: UInt8) -> UInt32? {
    alphabet.firstIndex(of: c).map { UInt32($0) }
}

private func referenceDecode(_ input: [UInt8]) -> [UInt8]? {
    var text = input[...]
    while text.last == 0x3D { text = text.dropLast() }
    guard text.count % 4 != 1 else { return nil }
    var out: [UInt8] = []
    var group: [UInt32] = []
    for c in text {
        guard let v = value(c) else { return nil }
        group.append(v)
        if group.count == 4 {
            let n = group[0] << 18 | group[1] << 12 | group[2] << 6 | group[3]
            out += [UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
            group = []
        }
    }
    if group.count == 2 {
        out.append(UInt8((group[0] << 2 | group[1] >> 4) & 0xFF))
    } else if group.count == 3 {
        let n = group[0] << 10 | group[1] << 4 | group[2] >> 2
        out += [UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
    }
    return out
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = fuzzBytes(data, count)

    let encoded = Base64.encode(bytes)
    let text = utf8Bytes(encoded)
    check(text.count == (bytes.count * 4 + 2) / 3, "encoded length \(text.count) for \(bytes.count) bytes")
    check(text.allSatisfy { value($0) != nil }, "encoding outside the alphabet or padded")
    check(Base64.decode(encoded) == bytes, "decode(encode(b)) != b")
    check(referenceDecode(text) == bytes, "the reference does not read our encoding back")

    let string = String(decoding: bytes, as: UTF8.self)
    let decoded = Base64.decode(string)
    let expected = referenceDecode(utf8Bytes(string))
    check(decoded == expected, "decode differs from the reference: \(String(describing: decoded)) vs \(String(describing: expected))")
    if let decoded {
        var stripped = utf8Bytes(string)[...]
        while stripped.last == 0x3D { stripped = stripped.dropLast() }
        let again = utf8Bytes(Base64.encode(decoded))
        check(again.count == stripped.count, "re-encoding length")
        check(again.dropLast().elementsEqual(stripped.dropLast()), "re-encoding differs before the last character")
    }
    return 0
}
