// MessageCompression (gzip through zlib) with a decompression limit.
//
// Input: byte 0 picks the mode, bytes 1-2 the limit (0 to 65535 bytes), the rest is the data.
// - Even: the data is decompressed with the limit, and once with a far larger one as the reference.
//   Checked: output never over the limit; when the whole stream decompresses to n bytes, a limit
//   >= n gives the same bytes and a smaller one RESOURCE_EXHAUSTED; a malformed stream is INTERNAL
//   (or RESOURCE_EXHAUSTED when the limit is hit before the fault); nothing else is thrown.
// - Odd: the data is compressed, and decompressed with the limit: the same bytes when they fit,
//   RESOURCE_EXHAUSTED when they do not. Identity leaves the bytes alone both ways.
import BreakwaterCore
import BreakwaterWire
import FuzzSupport

private let referenceLimit = 64 * 1024 * 1024

private func decompress(_ bytes: [UInt8], limit: Int) -> Result<[UInt8], RPCError> {
    do throws(RPCError) {
        return .success(try MessageCompression.decompress(bytes, using: .gzip, limit: limit))
    } catch {
        return .failure(error)
    }
}

private func decompressMode(_ data: [UInt8], limit: Int) {
    let limited = decompress(data, limit: limit)
    let reference = decompress(data, limit: referenceLimit)
    if case .success(let out) = limited {
        check(out.count <= limit, "\(out.count) bytes out with a limit of \(limit)")
    }
    if case .failure(let e) = limited {
        check(e.code == .resourceExhausted || e.code == .internalError, "unexpected error \(e)")
    }
    switch reference {
    case .success(let full):
        if full.count <= limit {
            guard case .success(let out) = limited else { return check(false, "\(full.count) bytes refused with a limit of \(limit): \(limited)") }
            check(out == full, "output depends on the limit")
        } else {
            guard case .failure(let e) = limited else { return check(false, "\(full.count) bytes returned with a limit of \(limit)") }
            check(e.code == .resourceExhausted, "\(full.count) bytes over a limit of \(limit) gave \(e)")
        }
        // What decompresses compresses and comes back.
        if let again = try? MessageCompression.compress(full, using: .gzip) {
            guard case .success(let back) = decompress(again, limit: full.count) else { return check(false, "recompressed bytes do not decompress") }
            check(back == full, "recompression round trip")
        } else {
            check(false, "compressing \(full.count) bytes failed")
        }
    case .failure(let e):
        if e.code == .resourceExhausted { return }  // over 64 MiB: no reference
        check(e.code == .internalError, "unexpected reference error \(e)")
        guard case .failure(let l) = limited else { return check(false, "malformed stream accepted under a limit of \(limit)") }
        check(l.code == .internalError || l.code == .resourceExhausted, "malformed stream gave \(l)")
    }
}

private func compressMode(_ data: [UInt8], limit: Int) {
    let compressed: [UInt8]
    do throws(RPCError) {
        compressed = try MessageCompression.compress(data, using: .gzip)
    } catch {
        return check(false, "compressing \(data.count) bytes failed: \(error)")
    }
    check(compressed.count >= 18 && compressed[0] == 0x1F && compressed[1] == 0x8B, "not a gzip member")
    switch decompress(compressed, limit: limit) {
    case .success(let out):
        check(data.count <= limit && out == data, "round trip with a limit of \(limit)")
    case .failure(let e):
        check(data.count > limit && e.code == .resourceExhausted, "\(data.count) bytes with a limit of \(limit) gave \(e)")
    }
    check((try? MessageCompression.compress(data, using: .identity)) == data, "identity compress")
    check((try? MessageCompression.decompress(data, using: .identity, limit: limit)) == data, "identity decompress")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    var reader = FuzzReader(fuzzBytes(data, count))
    let mode = reader.byte()
    let limit = Int(reader.uint16())
    let rest = reader.rest()
    if mode & 1 == 0 {
        decompressMode(rest, limit: limit)
    } else {
        compressMode(rest, limit: limit)
    }
    return 0
}
