import BreakwaterCore
import BreakwaterWire
import CNghttp2

/// A header block laid out once as `nghttp2_nv` values, for blocks that are the same on every stream of a
/// connection (response headers without metadata, OK trailers). nghttp2 copies the fields when a block is
/// submitted, so one layout serves every submit. Loop-confined, like the connection that owns it.
final class PreparedHeaderBlock {
    private let scratch = HeaderBlockScratch()
    let fields: [HeaderField]

    init(_ fields: [HeaderField]) {
        self.fields = fields
    }

    /// Runs `body` with the block as `nghttp2_nv` values.
    func withFields<R>(_ body: (UnsafePointer<nghttp2_nv>?, Int) -> R) -> R {
        scratch.withLaidOut(fields, body)
    }
}

/// Reusable memory for laying out header fields as `nghttp2_nv` values, so that submitting a header block
/// allocates nothing here (nghttp2 copies the fields during the submit call). Loop-confined, like the
/// connection that owns it.
final class HeaderBlockScratch {
    @exclusivity(unchecked) private var bytes: UnsafeMutablePointer<UInt8>
    @exclusivity(unchecked) private var byteCapacity: Int
    @exclusivity(unchecked) private var nvs: UnsafeMutablePointer<nghttp2_nv>
    @exclusivity(unchecked) private var nvCapacity: Int

    init() {
        byteCapacity = 512
        bytes = .allocate(capacity: byteCapacity)
        nvCapacity = 16
        nvs = .allocate(capacity: nvCapacity)
    }

    deinit {
        bytes.deallocate()
        nvs.deallocate()
    }

    /// The number of fields laid out by `withLaidOut`, which keeps its layout (0: none).
    private var laidOutCount = 0

    /// Runs `body` with `fields` as `nghttp2_nv` values, laying them out on the first call only: for a
    /// scratch that only ever holds these `fields` (`PreparedHeaderBlock`).
    func withLaidOut<R>(_ fields: [HeaderField], _ body: (UnsafePointer<nghttp2_nv>?, Int) -> R) -> R {
        if laidOutCount == 0 && !fields.isEmpty {
            _ = withFields(fields) { _, count in count }
            laidOutCount = fields.count
        }
        return body(nvs, laidOutCount)
    }

    /// Runs `body` with `fields` as `nghttp2_nv` values; the memory is valid during `body` only.
    func withFields<R>(_ fields: [HeaderField], _ body: (UnsafePointer<nghttp2_nv>?, Int) -> R) -> R {
        var total = 0
        for (name, value) in fields { total += name.utf8.count + value.utf8.count }
        if total > byteCapacity {
            bytes.deallocate()
            byteCapacity = max(total, byteCapacity * 2)
            bytes = .allocate(capacity: byteCapacity)
        }
        if fields.count > nvCapacity {
            nvs.deallocate()
            nvCapacity = max(fields.count, nvCapacity * 2)
            nvs = .allocate(capacity: nvCapacity)
        }
        var offset = 0
        for (i, (name, value)) in fields.enumerated() {
            let nameStart = offset
            offset = Self.copy(name, to: bytes, at: offset)
            let valueStart = offset
            offset = Self.copy(value, to: bytes, at: offset)
            nvs[i] = nghttp2_nv(
                name: bytes + nameStart, value: bytes + valueStart, namelen: valueStart - nameStart,
                valuelen: offset - valueStart, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
        }
        return body(nvs, fields.count)
    }

    private static func copy(_ string: String, to bytes: UnsafeMutablePointer<UInt8>, at offset: Int) -> Int {
        let copied = string.utf8.withContiguousStorageIfAvailable { utf8 -> Int in
            if let base = utf8.baseAddress { (bytes + offset).update(from: base, count: utf8.count) }
            return utf8.count
        }
        if let copied { return offset + copied }
        var end = offset
        for byte in string.utf8 {
            bytes[end] = byte
            end += 1
        }
        return end
    }
}
