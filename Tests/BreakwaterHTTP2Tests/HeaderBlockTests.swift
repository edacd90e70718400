import BreakwaterCore
import CNghttp2
import Testing

@testable import BreakwaterHTTP2

@Suite struct HeaderBlockTests {
    private func decode(_ cache: inout HeaderStringCache, _ bytes: [UInt8]) -> String {
        bytes.withUnsafeBufferPointer { cache.string($0) }
    }

    @Test func cachedStringsEqualDecodedOnesForEveryInput() {
        var cache = HeaderStringCache()
        // Same length and end bytes (same slot), different middles; repeats; empty; invalid UTF-8; long.
        let inputs: [[UInt8]] = [
            Array("/echo.Echo/Get".utf8), Array("/echo.Echo/Get".utf8), Array("/echo.Xcho/Get".utf8),
            Array("/echo.Echo/Get".utf8), [], [0xff, 0xfe, 0x41], [0xff, 0xfe, 0x41],
            Array(repeating: 0x61, count: 300), Array(repeating: 0x61, count: 300),
            Array("application/grpc".utf8), Array("application/grpc+proto".utf8), Array("application/grpc".utf8),
        ]
        for bytes in inputs {
            #expect(decode(&cache, bytes) == String(decoding: bytes, as: UTF8.self))
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
}
