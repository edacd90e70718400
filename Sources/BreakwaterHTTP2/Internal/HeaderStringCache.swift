#if canImport(Glibc)
import Glibc
#endif

/// Strings for received header names and values, reused while the same bytes keep arriving.
///
/// A peer sends the same fields on every request of a connection (`:path`, `content-type`,
/// `user-agent`, ...; HPACK makes that cheap on the wire), and making a `String` of each costs a UTF-8
/// validation and, past 15 bytes, an allocation. This direct-mapped cache remembers the last string seen in
/// each of a few slots, chosen by length and end bytes, and returns it when the bytes are equal. A miss costs
/// one comparison more than decoding. Loop-confined, like the connection that owns it.
struct HeaderStringCache {
    private struct Slot {
        var bytes: [UInt8] = []
        var string = ""
    }

    private static let slotCount = 32
    /// Longer values (rare: big metadata) are decoded every time and not kept.
    private static let maxCachedLength = 128

    private var slots = [Slot](repeating: Slot(), count: HeaderStringCache.slotCount)

    /// The string of `bytes` (decoded as UTF-8, repairing invalid sequences like `String(decoding:as:)`).
    mutating func string(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        let count = bytes.count
        guard count > 0, count <= Self.maxCachedLength, let base = bytes.baseAddress else {
            return String(decoding: bytes, as: UTF8.self)
        }
        let index = (count &* 31 &+ Int(base[0]) &* 7 &+ Int(base[count - 1])) & (Self.slotCount - 1)
        let hit = slots[index].bytes.withUnsafeBufferPointer { stored -> Bool in
            guard stored.count == count, let storedBase = stored.baseAddress else { return false }
            return memcmp(storedBase, base, count) == 0
        }
        if hit { return slots[index].string }
        let string = String(decoding: bytes, as: UTF8.self)
        slots[index] = Slot(bytes: Array(bytes), string: string)
        return string
    }
}
