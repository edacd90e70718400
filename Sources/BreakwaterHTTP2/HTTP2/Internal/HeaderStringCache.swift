#if canImport(Glibc)
import Glibc
#endif

/// Strings for received header names and values, reused while the same bytes keep arriving.
///
/// A peer sends the same fields in the same order on every request (or response) of a connection
/// (`:path`, `content-type`, `user-agent`, ...; HPACK makes that cheap on the wire), and making a `String`
/// of each costs a UTF-8 validation and, past 15 bytes, an allocation. The cache keeps the last string seen
/// at each place of a header block (the block's kind and the field's position in it, name and value apart)
/// and returns it when the bytes are equal; a miss costs one comparison more than decoding.
/// Loop-confined, like the connection that owns it.
struct HeaderStringCache {
    private struct Slot {
        var bytes: [UInt8] = []
        var string = ""
    }

    /// Fields past this position in a block are decoded every time.
    static let positionsPerKind = 16
    /// Kinds of header block (nghttp2's request, response, push response and headers/trailers categories).
    static let kinds = 4
    /// Longer values (rare: big metadata) are decoded every time and not kept.
    private static let maxCachedLength = 128

    private var slots = [Slot](repeating: Slot(), count: 2 * kinds * positionsPerKind)
    private var base = -1
    private var position = 0

    /// A header block of `kind` (0..<kinds; anything else is not cached) begins.
    mutating func beginBlock(kind: Int) {
        base = (0..<Self.kinds).contains(kind) ? 2 * kind * Self.positionsPerKind : -1
        position = 0
    }

    /// The strings of the block's next field (decoded as UTF-8, repairing invalid sequences like
    /// `String(decoding:as:)`).
    mutating func field(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) -> (String, String) {
        defer { position += 1 }
        guard base >= 0, position < Self.positionsPerKind else {
            return (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
        }
        let slot = base + 2 * position
        return (string(name, slot: slot), string(value, slot: slot + 1))
    }

    private mutating func string(_ bytes: UnsafeBufferPointer<UInt8>, slot: Int) -> String {
        let count = bytes.count
        guard count > 0, count <= Self.maxCachedLength, let base = bytes.baseAddress else {
            return String(decoding: bytes, as: UTF8.self)
        }
        let hit = slots[slot].bytes.withUnsafeBufferPointer { stored -> Bool in
            guard stored.count == count, let storedBase = stored.baseAddress else { return false }
            return memcmp(storedBase, base, count) == 0
        }
        if hit { return slots[slot].string }
        let string = String(decoding: bytes, as: UTF8.self)
        slots[slot] = Slot(bytes: Array(bytes), string: string)
        return string
    }
}
