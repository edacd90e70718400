import BreakwaterCore
import BreakwaterWire
import CNghttp2
import Testing

@testable import BreakwaterHTTP2

@Suite struct HeaderBlockTests {
    @Test func cachedStringsEqualDecodedOnesForEveryInput() {
        var cache = HeaderStringCache()
        // Blocks of every kind (and none), fields repeating at their place or changing; empty, invalid
        // UTF-8, long, and more fields than the cache keeps places for.
        let blocks: [(Int, [[UInt8]])] = [
            (0, [Array(":path".utf8), Array("/echo.Echo/Get".utf8), Array("te".utf8), Array("trailers".utf8)]),
            (0, [Array(":path".utf8), Array("/echo.Echo/Get".utf8), Array("te".utf8), Array("trailers".utf8)]),
            (0, [Array(":path".utf8), Array("/echo.Xcho/Get".utf8), Array("te".utf8), []]),
            (3, [Array("grpc-status".utf8), Array("0".utf8), [0xff, 0xfe, 0x41], [0xff, 0xfe, 0x41]]),
            (3, [Array("grpc-status".utf8), Array("0".utf8), [0xff, 0xfe, 0x41], [0xfe, 0xfe, 0x41]]),
            (-1, [Array("x".utf8), Array("y".utf8)]),
            (1, [Array(repeating: 0x61, count: 300), Array(repeating: 0x61, count: 300)]),
            (1, (0..<40).map { Array("f\($0 % 3)".utf8) }),
            (1, (0..<40).map { Array("f\($0 % 5)".utf8) }),
        ]
        for (kind, bytes) in blocks {
            cache.beginBlock(kind: kind)
            for i in stride(from: 0, to: bytes.count, by: 2) {
                let (name, value) = bytes[i].withUnsafeBufferPointer { n in
                    bytes[i + 1].withUnsafeBufferPointer { v in cache.field(name: n, value: v) }
                }
                #expect(name == String(decoding: bytes[i], as: UTF8.self))
                #expect(value == String(decoding: bytes[i + 1], as: UTF8.self))
            }
        }
    }

    @Test func scratchLaysOutFieldsOfAnySize() {
        let scratch = HeaderBlockScratch()
        let long = String(repeating: "v", count: 2000)
        let fields: [HeaderField] = [(":status", "200"), ("x-long", long), ("x-utf8", "café ☕")]
            + (0..<40).map { ("x-\($0)", "\($0)") }
        for _ in 0..<2 {
            let read = scratch.withFields(fields) { nva, count -> [HeaderField] in
                (0..<count).map { i in
                    let nv = nva![i]
                    return (
                        String(decoding: UnsafeBufferPointer(start: nv.name, count: nv.namelen), as: UTF8.self),
                        String(decoding: UnsafeBufferPointer(start: nv.value, count: nv.valuelen), as: UTF8.self)
                    )
                }
            }
            #expect(read.map(\.name) == fields.map(\.name))
            #expect(read.map(\.value) == fields.map(\.value))
        }
    }

    @Test func preparedBlockGivesItsFieldsOnEveryUse() {
        let fields = GRPCHeaders.trailers(status: .ok, metadata: [:], trailersOnly: false)
        let block = PreparedHeaderBlock(fields)
        for _ in 0..<3 {
            let read = block.withFields { nva, count -> [String] in
                (0..<count).map { i in
                    let nv = nva![i]
                    return String(decoding: UnsafeBufferPointer(start: nv.name, count: nv.namelen), as: UTF8.self) + "="
                        + String(decoding: UnsafeBufferPointer(start: nv.value, count: nv.valuelen), as: UTF8.self)
                }
            }
            #expect(read == fields.map { "\($0.name)=\($0.value)" })
        }
    }
}
