// Helpers shared by the fuzz targets: reading structured values out of the fuzzer's bytes,
// failing loudly when a property does not hold, and the text form of header blocks.

import BreakwaterCore
import BreakwaterWire  // where GRPCHeaders may move

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Fails the run (libFuzzer saves the input as a crash) when `condition` is false.
@inline(__always)
public func check(
    _ condition: Bool,
    _ message: @autoclosure () -> String,
    file: StaticString = #fileID,
    line: UInt = #line
) {
    if !condition {
        let text = "property violated at \(file):\(line): \(message())\n"
        var bytes = Array(text.utf8)
        _ = write(2, &bytes, bytes.count)
        abort()
    }
}

/// The fuzzer's bytes as one copy, from `LLVMFuzzerTestOneInput`'s arguments.
public func fuzzBytes(_ data: UnsafeRawPointer?, _ count: Int) -> [UInt8] {
    guard let data, count > 0 else { return [] }
    return Array(UnsafeRawBufferPointer(start: data, count: count))
}

/// Reads values off the front of the fuzzer's bytes; past the end every read gives zeros.
public struct FuzzReader {
    public private(set) var bytes: [UInt8]
    public private(set) var offset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var isAtEnd: Bool { offset >= bytes.count }
    public var remainingCount: Int { max(bytes.count - offset, 0) }

    public mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func uint16() -> UInt16 { UInt16(byte()) << 8 | UInt16(byte()) }

    public mutating func uint32() -> UInt32 { UInt32(uint16()) << 16 | UInt32(uint16()) }

    public mutating func uint64() -> UInt64 { UInt64(uint32()) << 32 | UInt64(uint32()) }

    public mutating func bool() -> Bool { byte() & 1 == 1 }

    /// At most `n` bytes.
    public mutating func bytes(_ n: Int) -> [UInt8] {
        let n = min(max(n, 0), remainingCount)
        defer { offset += n }
        return Array(bytes[offset..<offset + n])
    }

    /// A length byte, then that many bytes.
    public mutating func shortBytes() -> [UInt8] { bytes(Int(byte())) }

    /// Everything not read yet.
    public mutating func rest() -> [UInt8] { bytes(remainingCount) }
}

/// A small deterministic generator for choices that should not eat the fuzzer's bytes
/// (chunk sizes, for example): xorshift64*, seeded from the input.
public struct SplitMix: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Header blocks in the seed files' text form: one field a line, `name: value` (split at the first
/// `": "`; a line without one is a name with an empty value). Names and values are decoded as the
/// transport does, `String(decoding:as: UTF8.self)`, so invalid UTF-8 is repaired, not rejected.
public func headerFields(fromText bytes: [UInt8]) -> [(name: String, value: String)] {
    var fields: [(name: String, value: String)] = []
    for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
        var split: Int?
        var i = line.startIndex
        while i + 1 < line.endIndex {
            if line[i] == UInt8(ascii: ":") && line[i + 1] == UInt8(ascii: " ") && i > line.startIndex {
                split = i
                break
            }
            i += 1
        }
        if let split {
            fields.append((
                String(decoding: line[line.startIndex..<split], as: UTF8.self),
                String(decoding: line[(split + 2)...], as: UTF8.self)
            ))
        } else {
            fields.append((String(decoding: line, as: UTF8.self), ""))
        }
    }
    return fields
}

/// Bytes of a string, for comparisons that must not use `String`'s Unicode equivalence.
public func utf8Bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Custom metadata as the `Metadata` contract has it: lower-case token keys that are not reserved,
/// printable ASCII strings for plain keys, bytes for `-bin` keys. Up to 7 entries.
public func contractMetadata(_ reader: inout FuzzReader, extraKeys: [String] = []) -> Metadata {
    let keyAlphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789-_.".utf8)
    let fixedKeys = ["x-id", "authorization", "grpc-trace-bin", "grpc-status-details-bin", "x-a", "x-a"] + extraKeys
    var metadata = Metadata()
    let count = Int(reader.byte() % 8)
    for _ in 0..<count {
        let kind = reader.byte()
        var key: String
        if kind & 0x80 == 0, !fixedKeys.isEmpty {
            key = fixedKeys[Int(kind) % fixedKeys.count]
        } else {
            let raw = reader.bytes(Int(kind & 0x0F) + 1)
            key = String(decoding: raw.map { keyAlphabet[Int($0) % keyAlphabet.count] }, as: UTF8.self)
            if kind & 0x40 != 0 { key += "-bin" }
        }
        if GRPCHeaders.isReserved(key) { key = "x-" + key }
        if key.hasSuffix("-bin") {
            metadata.addBinary(reader.shortBytes(), forKey: key)
        } else {
            let printable = reader.shortBytes().map { 0x20 + $0 % 95 }
            metadata.addString(String(decoding: printable, as: UTF8.self), forKey: key)
        }
    }
    return metadata
}

/// Whether a custom `-bin` field of `fields` is not valid base64 (the parsers then answer INTERNAL).
public func hasInvalidBinaryMetadata(_ fields: [HeaderField]) -> Bool {
    fields.contains { name, value in
        let key = name.lowercased()
        return !GRPCHeaders.isReserved(key) && key.hasSuffix("-bin") && Base64.decode(value) == nil
    }
}
