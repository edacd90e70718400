import BreakwaterCore
import BreakwaterWire
import Testing

@testable import BreakwaterHTTP2

@Suite struct QueueTests {
    @Test func smallQueueIsFIFOThroughInterleavedUse() {
        var queue = SmallQueue<Int>()
        var model: [Int] = []
        var next = 0
        // A fixed pseudo-random mix of appends and pops.
        var seed: UInt64 = 12345
        for _ in 0..<2000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            if seed >> 62 != 0 {
                queue.append(next)
                model.append(next)
                next += 1
            } else {
                #expect(queue.popFirst() == (model.isEmpty ? nil : model.removeFirst()))
            }
            #expect(queue.isEmpty == model.isEmpty)
        }
        queue.removeAll()
        #expect(queue.isEmpty)
        #expect(queue.popFirst() == nil)
    }

    @Test func outboundMessagesReadAsTheirFramedBytesInAnyChunkSize() {
        let payloads: [[UInt8]] = [[], [1, 2, 3], Array(repeating: 7, count: 300), [9]]
        var expected: [UInt8] = []
        for (i, p) in payloads.enumerated() { MessageFramer.append(p, compressed: i == 2, to: &expected) }
        for chunk in [1, 2, 3, 5, 7, 64, 1000] {
            var out = OutboundMessages()
            var read: [UInt8] = []
            var pending = payloads.enumerated().makeIterator()
            // Append one message, read a chunk, repeat; then drain.
            while true {
                if let (i, p) = pending.next() { out.append(p, compressed: i == 2) }
                var buffer = [UInt8](repeating: 0, count: chunk)
                let n = buffer.withUnsafeMutableBytes { out.read(into: $0) }
                read += buffer[0..<n]
                if n == 0 && out.isEmpty { break }
            }
            #expect(read == expected, "chunk \(chunk)")
            #expect(out.count == 0)
        }
    }
}
