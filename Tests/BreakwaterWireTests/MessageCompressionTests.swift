import BreakwaterTestSupport
import Testing

import BreakwaterCore
@testable import BreakwaterWire

@Suite("MessageCompression")
struct MessageCompressionTests {
    private static func code(of body: () throws(RPCError) -> [UInt8]) -> Status.Code? {
        do {
            _ = try body()
            return nil
        } catch {
            return error.code
        }
    }

    @Test("gzip round trip of random data", arguments: [0, 1, 2, 100, 4096, 100 * 1024])
    func gzipRoundTripRandom(size: Int) throws {
        var rng = SeededRandom(seed: UInt64(size) &+ 1)
        let data = rng.bytes(size)
        let compressed = try MessageCompression.compress(data, using: .gzip)
        // A gzip member: magic 1f 8b, method 8 (deflate).
        #expect(Array(compressed.prefix(3)) == [0x1F, 0x8B, 0x08])
        let back = try MessageCompression.decompress(compressed, using: .gzip, limit: max(size, 1))
        #expect(back == data)
    }

    @Test("gzip round trip of compressible data actually compresses")
    func gzipCompressible() throws {
        let data = [UInt8](repeating: 0x41, count: 100 * 1024)
        let compressed = try MessageCompression.compress(data, using: .gzip)
        #expect(compressed.count < 1024)
        #expect(try MessageCompression.decompress(compressed, using: .gzip, limit: data.count) == data)
    }

    @Test("identity passes bytes through both ways")
    func identity() throws {
        let data: [UInt8] = [0, 1, 2, 0xFF]
        #expect(try MessageCompression.compress(data, using: .identity) == data)
        #expect(try MessageCompression.decompress(data, using: .identity, limit: 1) == data)
    }

    @Test("decompressing exactly to the limit succeeds; one byte over is RESOURCE_EXHAUSTED")
    func limit() throws {
        let data = [UInt8](repeating: 0x42, count: 10_000)
        let compressed = try MessageCompression.compress(data, using: .gzip)
        #expect(try MessageCompression.decompress(compressed, using: .gzip, limit: 10_000) == data)
        #expect(Self.code { () throws(RPCError) in try MessageCompression.decompress(compressed, using: .gzip, limit: 9_999) } == .resourceExhausted)
        #expect(Self.code { () throws(RPCError) in try MessageCompression.decompress(compressed, using: .gzip, limit: 0) } == .resourceExhausted)
    }

    @Test("a zip bomb is stopped at the limit")
    func bomb() throws {
        let data = [UInt8](repeating: 0, count: 8 * 1024 * 1024)
        let compressed = try MessageCompression.compress(data, using: .gzip)
        #expect(compressed.count < 64 * 1024)
        #expect(Self.code { () throws(RPCError) in try MessageCompression.decompress(compressed, using: .gzip, limit: 1024 * 1024) } == .resourceExhausted)
    }

    @Test("property: decompression succeeds exactly when the output fits the limit (seeded, 300 runs)")
    func limitProperty() throws {
        var rng = SeededRandom(seed: 2024)
        for iteration in 0..<300 {
            // Compressible data of random size: runs of random bytes, so the output grows past the
            // shim's first buffer guess (4 x input + 64) as well as staying under it.
            let size = Int.random(in: 0...20_000, using: &rng)
            var data: [UInt8] = []
            data.reserveCapacity(size)
            while data.count < size {
                let run = min(Int.random(in: 1...300, using: &rng), size - data.count)
                let byte = UInt8.random(in: 0...3, using: &rng)
                data.append(contentsOf: repeatElement(byte, count: run))
            }
            let compressed = try MessageCompression.compress(data, using: .gzip)
            for limit in Set([size, size + 1, max(size - 1, 0), size / 2, compressed.count * 4 + 64]) {
                let result = Result { () throws(RPCError) in try MessageCompression.decompress(compressed, using: .gzip, limit: limit) }
                switch result {
                case .success(let back):
                    #expect(size <= limit, "iteration \(iteration): \(size) bytes accepted with limit \(limit)")
                    #expect(back == data, "iteration \(iteration)")
                case .failure(let error):
                    #expect(size > limit, "iteration \(iteration): \(size) bytes rejected with limit \(limit): \(error)")
                    #expect(error.code == .resourceExhausted, "iteration \(iteration)")
                }
            }
        }
    }

    @Test("random data just over the limit is RESOURCE_EXHAUSTED")
    func randomOverLimit() throws {
        var rng = SeededRandom(seed: 99)
        let data = rng.bytes(5000)
        let compressed = try MessageCompression.compress(data, using: .gzip)
        #expect(Self.code { () throws(RPCError) in try MessageCompression.decompress(compressed, using: .gzip, limit: 4999) } == .resourceExhausted)
        #expect(try MessageCompression.decompress(compressed, using: .gzip, limit: 5000) == data)
    }

    @Test("an empty payload compresses to a valid gzip member and back, even with limit 0")
    func emptyWithZeroLimit() throws {
        let compressed = try MessageCompression.compress([], using: .gzip)
        #expect(try MessageCompression.decompress(compressed, using: .gzip, limit: 0) == [])
    }

    @Test(
        "malformed input is INTERNAL",
        arguments: [
            [UInt8](),
            [0x00],
            Array("definitely not gzip".utf8),
            [0x1F, 0x8B],
            [0x1F, 0x8B, 0x08, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF],
        ]
    )
    func malformed(input: [UInt8]) {
        #expect(Self.code { () throws(RPCError) in try MessageCompression.decompress(input, using: .gzip, limit: 1 << 20) } == .internalError)
    }

    @Test("a truncated gzip stream is INTERNAL at every truncation point")
    func truncated() throws {
        var rng = SeededRandom(seed: 3)
        let data = rng.bytes(300)
        let compressed = try MessageCompression.compress(data, using: .gzip)
        for cut in 0..<compressed.count {
            let code = Self.code { () throws(RPCError) in
                try MessageCompression.decompress(Array(compressed[..<cut]), using: .gzip, limit: 1 << 20)
            }
            #expect(code == .internalError, "cut at \(cut) of \(compressed.count)")
        }
    }

    /// RFC 1952 section 2.2: "A gzip file consists of a series of members"; zlib's inflate stops at the end
    /// of the first one, so the shim resets and goes on while another member follows.
    @Test("a multi-member gzip stream decodes to the concatenation (RFC 1952 2.2)")
    func multiMember() throws {
        let a = Array("first member, ".utf8)
        let b = Array("second member".utf8)
        let both = try MessageCompression.compress(a, using: .gzip) + MessageCompression.compress(b, using: .gzip)
        let result = try MessageCompression.decompress(both, using: .gzip, limit: 1 << 20)
        #expect(result == a + b)
    }

    @Test("bytes after the end of the gzip stream are INTERNAL, not silently dropped")
    func trailingGarbage() throws {
        let data = Array("payload".utf8)
        let compressed = try MessageCompression.compress(data, using: .gzip) + [0xDE, 0xAD, 0xBE, 0xEF]
        #expect(Self.code { () throws(RPCError) in try MessageCompression.decompress(compressed, using: .gzip, limit: 1 << 20) } == .internalError)
    }

    @Test("a corrupted CRC is INTERNAL")
    func corruptedChecksum() throws {
        var compressed = try MessageCompression.compress(Array("hello, gzip".utf8), using: .gzip)
        // The gzip trailer is CRC32 then ISIZE; flip a CRC bit.
        compressed[compressed.count - 8] ^= 0x01
        #expect(Self.code { () throws(RPCError) in try MessageCompression.decompress(compressed, using: .gzip, limit: 1 << 20) } == .internalError)
    }
}
