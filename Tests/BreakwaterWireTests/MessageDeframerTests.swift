import BreakwaterTestSupport
import Testing

import BreakwaterCore
@testable import BreakwaterWire

/// Feeds `chunks` to a deframer, draining every whole message after each append.
private func deframe(
    _ chunks: [[UInt8]],
    maxMessageBytes: Int = 4 * 1024 * 1024
) throws -> (frames: [MessageDeframer.Frame], deframer: MessageDeframer) {
    var deframer = MessageDeframer(maxMessageBytes: maxMessageBytes)
    var frames: [MessageDeframer.Frame] = []
    for chunk in chunks {
        deframer.append(chunk)
        while let frame = try deframer.next() { frames.append(frame) }
    }
    return (frames, deframer)
}

private func framed(_ messages: [[UInt8]], compressed: Bool = false) -> [UInt8] {
    var out: [UInt8] = []
    for m in messages { MessageFramer.append(m, compressed: compressed, to: &out) }
    return out
}

private func plain(_ messages: [[UInt8]]) -> [MessageDeframer.Frame] {
    messages.map { MessageDeframer.Frame(compressed: false, payload: $0) }
}

@Suite("MessageFramer")
struct MessageFramerTests {
    @Test("the prefix is the flag and a 4-byte big-endian length")
    func prefixLayout() {
        #expect(MessageFramer.frame([]) == [0, 0, 0, 0, 0])
        #expect(MessageFramer.frame([0xAB], compressed: true) == [1, 0, 0, 0, 1, 0xAB])
        let big = [UInt8](repeating: 7, count: 0x01_02_03)
        let f = MessageFramer.frame(big)
        #expect(Array(f.prefix(5)) == [0, 0x00, 0x01, 0x02, 0x03])
        #expect(f.count == 5 + big.count)
        #expect(Array(f.dropFirst(5)) == big)
    }

    @Test("append adds to what the buffer already holds")
    func appendKeepsExisting() {
        var buffer: [UInt8] = [9, 9]
        MessageFramer.append([1, 2], compressed: false, to: &buffer)
        #expect(buffer == [9, 9, 0, 0, 0, 0, 2, 1, 2])
    }
}

@Suite("MessageDeframer")
struct MessageDeframerTests {
    static let messages: [[UInt8]] = [
        Array("hello".utf8),
        [],
        Array(0...255).map { UInt8($0) },
        [0],
        Array("a somewhat longer message that spans a few more bytes".utf8),
        [],
    ]

    @Test("several messages split in two at every byte boundary")
    func everySplitPoint() throws {
        let bytes = framed(Self.messages)
        for split in 0...bytes.count {
            let (frames, deframer) = try deframe([Array(bytes[..<split]), Array(bytes[split...])])
            #expect(frames == plain(Self.messages), "split at \(split)")
            #expect(!deframer.hasPartialMessage, "split at \(split)")
            #expect(deframer.bufferedBytes == 0, "split at \(split)")
        }
    }

    @Test("several messages split in three at every pair of boundaries")
    func everyPairOfSplitPoints() throws {
        let bytes = framed([Array("abc".utf8), [], Array("defgh".utf8)])
        for i in 0...bytes.count {
            for j in i...bytes.count {
                let (frames, _) = try deframe([Array(bytes[..<i]), Array(bytes[i..<j]), Array(bytes[j...])])
                #expect(frames == plain([Array("abc".utf8), [], Array("defgh".utf8)]), "splits at \(i), \(j)")
            }
        }
    }

    @Test("one byte at a time, each message appears exactly when its last byte arrives")
    func oneByteAtATime() throws {
        let bytes = framed(Self.messages)
        // The offsets at which each message is complete.
        var ends: [Int] = []
        var offset = 0
        for m in Self.messages {
            offset += 5 + m.count
            ends.append(offset)
        }
        var deframer = MessageDeframer()
        var frames: [MessageDeframer.Frame] = []
        for (i, b) in bytes.enumerated() {
            deframer.append([b])
            let before = frames.count
            while let frame = try deframer.next() { frames.append(frame) }
            let expectedCount = ends.filter { $0 <= i + 1 }.count
            #expect(frames.count == expectedCount, "after byte \(i)")
            if frames.count == before {
                #expect(deframer.hasPartialMessage, "after byte \(i)")
            }
        }
        #expect(frames == plain(Self.messages))
        #expect(!deframer.hasPartialMessage)
    }

    @Test("several messages in one append")
    func severalPerAppend() throws {
        var deframer = MessageDeframer()
        deframer.append(framed(Self.messages))
        var frames: [MessageDeframer.Frame] = []
        while let f = try deframer.next() { frames.append(f) }
        #expect(frames == plain(Self.messages))
        #expect(try deframer.next() == nil)
        #expect(!deframer.hasPartialMessage)
    }

    @Test("the raw-memory append behaves like the collection append")
    func rawAppend() throws {
        let bytes = framed(Self.messages)
        var deframer = MessageDeframer()
        var frames: [MessageDeframer.Frame] = []
        for chunk in stride(from: 0, to: bytes.count, by: 7) {
            let piece = Array(bytes[chunk..<min(chunk + 7, bytes.count)])
            piece.withUnsafeBytes { deframer.append($0) }
            while let f = try deframer.next() { frames.append(f) }
        }
        #expect(frames == plain(Self.messages))
    }

    /// A copy of `bytes` in raw memory (deallocate it).
    private static func raw(_ bytes: [UInt8]) -> UnsafeMutableRawBufferPointer {
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 1)
        memory.copyBytes(from: bytes)
        return memory
    }

    /// Deframes `bytes` cut into chunks of `chunkSize` the way the client does: whole messages straight
    /// from each chunk while nothing is buffered, the rest appended.
    private static func deframeDirect(_ bytes: [UInt8], chunkSize: Int) throws -> [MessageDeframer.Frame] {
        var deframer = MessageDeframer()
        var frames: [MessageDeframer.Frame] = []
        for chunk in stride(from: 0, to: bytes.count, by: chunkSize) {
            let piece = Array(bytes[chunk..<min(chunk + chunkSize, bytes.count)])
            let memory = raw(piece)
            defer { memory.deallocate() }
            var rest = UnsafeRawBufferPointer(rebasing: memory[0..<piece.count])
            while let f = try deframer.next(from: &rest) { frames.append(f) }
            deframer.append(rest)
            while let f = try deframer.next() { frames.append(f) }
        }
        #expect(!deframer.hasPartialMessage)
        return frames
    }

    @Test("messages taken straight from the bytes come out as the buffered path gives them, in order")
    func directFromBytes() throws {
        let bytes = framed(Self.messages + [[], [9]])
        for chunkSize in [1, 2, 5, 6, 7, 13, bytes.count] {
            #expect(try Self.deframeDirect(bytes, chunkSize: chunkSize) == plain(Self.messages + [[], [9]]), "chunks of \(chunkSize)")
        }
    }

    @Test("nothing is taken straight from the bytes while part of a message is buffered")
    func directWaitsForTheBuffer() throws {
        var d = MessageDeframer()
        let bytes = framed([[1, 2, 3], [4, 5]])
        d.append(bytes.prefix(3))
        let memory = Self.raw(Array(bytes[3...]))
        defer { memory.deallocate() }
        var rest = UnsafeRawBufferPointer(memory)
        #expect(try d.next(from: &rest) == nil)
        #expect(rest.count == bytes.count - 3)  // untouched
        // A message not yet whole in the bytes is left to the buffer too.
        var e = MessageDeframer()
        let memory2 = Self.raw(Array(bytes.prefix(10)))
        defer { memory2.deallocate() }
        var rest2 = UnsafeRawBufferPointer(memory2)
        #expect(try e.next(from: &rest2) == MessageDeframer.Frame(compressed: false, payload: [1, 2, 3]))
        #expect(try e.next(from: &rest2) == nil)
        #expect(rest2.count == 2)  // the start of [4, 5], for the buffer
    }

    @Test("straight from the bytes, a bad prefix fails as next() does")
    func directErrors() throws {
        var d = MessageDeframer(maxMessageBytes: 3)
        let memory = Self.raw([0, 0, 0, 0, 4, 1, 2, 3, 4])
        defer { memory.deallocate() }
        var rest = UnsafeRawBufferPointer(memory)
        #expect(throws: MessageDeframer.Error.messageTooLarge(length: 4, limit: 3)) { try d.next(from: &rest) }
        var e = MessageDeframer()
        let memory2 = Self.raw([2, 0, 0, 0, 0])
        defer { memory2.deallocate() }
        var rest2 = UnsafeRawBufferPointer(memory2)
        #expect(throws: MessageDeframer.Error.invalidCompressedFlag(2)) { try e.next(from: &rest2) }
    }

    @Test("zero-length messages")
    func zeroLength() throws {
        let (frames, deframer) = try deframe([framed([[], [], []])])
        #expect(frames == plain([[], [], []]))
        #expect(!deframer.hasPartialMessage)
        // A zero-length message is complete with its prefix alone.
        var d = MessageDeframer()
        d.append([0, 0, 0, 0])
        #expect(try d.next() == nil)
        #expect(d.hasPartialMessage)
        d.append([0])
        #expect(try d.next() == MessageDeframer.Frame(compressed: false, payload: []))
        #expect(!d.hasPartialMessage)
    }

    @Test("no bytes, no message")
    func empty() throws {
        var d = MessageDeframer()
        #expect(try d.next() == nil)
        #expect(!d.hasPartialMessage)
        d.append([UInt8]())
        #expect(try d.next() == nil)
        #expect(!d.hasPartialMessage)
    }

    @Test("a message exactly at the limit is accepted")
    func exactlyAtLimit() throws {
        let payload = [UInt8](repeating: 0x5A, count: 1000)
        let (frames, _) = try deframe([framed([payload, payload])], maxMessageBytes: 1000)
        #expect(frames == plain([payload, payload]))
        let (zero, _) = try deframe([framed([[]])], maxMessageBytes: 0)
        #expect(zero == plain([[]]))
    }

    @Test("one byte over the limit fails as soon as the prefix arrives, before the payload")
    func overLimitReportedAtPrefix() throws {
        var d = MessageDeframer(maxMessageBytes: 1000)
        let bytes = MessageFramer.frame([UInt8](repeating: 1, count: 1001))
        d.append(bytes.prefix(4))
        #expect(try d.next() == nil)
        d.append(bytes[4..<5])
        #expect(throws: MessageDeframer.Error.messageTooLarge(length: 1001, limit: 1000)) { try d.next() }
        // The error sticks: the stream cannot go on.
        d.append(bytes[5...])
        #expect(throws: MessageDeframer.Error.messageTooLarge(length: 1001, limit: 1000)) { try d.next() }
    }

    @Test("a huge declared length fails without the payload")
    func hugeDeclaredLength() throws {
        var d = MessageDeframer()
        d.append([0, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: MessageDeframer.Error.messageTooLarge(length: 0xFFFF_FFFF, limit: 4 * 1024 * 1024)) {
            try d.next()
        }
    }

    @Test("an over-limit message after good ones: the good ones come out first")
    func overLimitAfterGoodMessages() throws {
        var d = MessageDeframer(maxMessageBytes: 3)
        d.append(framed([[1, 2, 3], [4]]) + [0, 0, 0, 0, 4])
        #expect(try d.next() == MessageDeframer.Frame(compressed: false, payload: [1, 2, 3]))
        #expect(try d.next() == MessageDeframer.Frame(compressed: false, payload: [4]))
        #expect(throws: MessageDeframer.Error.messageTooLarge(length: 4, limit: 3)) { try d.next() }
    }

    @Test("the error maps to RESOURCE_EXHAUSTED and INTERNAL")
    func errorStatus() {
        #expect(MessageDeframer.Error.messageTooLarge(length: 5, limit: 4).status.code == .resourceExhausted)
        #expect(MessageDeframer.Error.invalidCompressedFlag(2).status.code == .internalError)
    }

    @Test("an invalid compressed flag is rejected", arguments: [UInt8(2), 3, 0x80, 0xFF])
    func invalidFlag(flag: UInt8) throws {
        var d = MessageDeframer()
        d.append([flag, 0, 0, 0, 1, 42])
        #expect(throws: MessageDeframer.Error.invalidCompressedFlag(flag)) { try d.next() }
    }

    @Test("the compressed flag is preserved per message")
    func compressedFlagPreserved() throws {
        var bytes: [UInt8] = []
        MessageFramer.append([1, 2], compressed: true, to: &bytes)
        MessageFramer.append([3], compressed: false, to: &bytes)
        MessageFramer.append([], compressed: true, to: &bytes)
        for split in 0...bytes.count {
            let (frames, _) = try deframe([Array(bytes[..<split]), Array(bytes[split...])])
            #expect(
                frames == [
                    .init(compressed: true, payload: [1, 2]),
                    .init(compressed: false, payload: [3]),
                    .init(compressed: true, payload: []),
                ],
                "split at \(split)"
            )
        }
    }

    @Test("a truncated stream leaves a partial message at every truncation point")
    func partialAtTruncation() throws {
        let messages: [[UInt8]] = [Array("first".utf8), Array("second!".utf8)]
        let bytes = framed(messages)
        let boundaries: Set<Int> = [0, 5 + 5, bytes.count]
        for cut in 0...bytes.count {
            let (frames, deframer) = try deframe([Array(bytes[..<cut])])
            #expect(deframer.hasPartialMessage == !boundaries.contains(cut), "cut at \(cut)")
            #expect(frames.count == (cut >= bytes.count ? 2 : cut >= 10 ? 1 : 0), "cut at \(cut)")
            let consumed = cut >= bytes.count ? bytes.count : cut >= 10 ? 10 : 0
            #expect(deframer.bufferedBytes == cut - consumed, "cut at \(cut)")
        }
    }

    @Test("interleaving appends and reads over many messages keeps the buffer consistent")
    func longStreamWithCompaction() throws {
        var rng = SeededRandom(seed: 7)
        var d = MessageDeframer()
        var expected: [[UInt8]] = []
        var got: [[UInt8]] = []
        var pending: [UInt8] = []
        for _ in 0..<2000 {
            let m = rng.bytes(Int.random(in: 0...40, using: &rng))
            expected.append(m)
            MessageFramer.append(m, compressed: false, to: &pending)
            // Hand over a random prefix of what is pending, so a part often stays buffered.
            let n = Int.random(in: 0...pending.count, using: &rng)
            d.append(pending[..<n])
            pending.removeFirst(n)
            while let f = try d.next() { got.append(f.payload) }
        }
        d.append(pending)
        while let f = try d.next() { got.append(f.payload) }
        #expect(got == expected)
        #expect(!d.hasPartialMessage)
    }

    @Test("property: random messages in random chunks deframe to exactly the input (seeded, 250 runs)")
    func randomChunkings() throws {
        var rng = SeededRandom(seed: 0xB4EA_C0A7)
        for iteration in 0..<250 {
            let count = Int.random(in: 0...8, using: &rng)
            var messages: [MessageDeframer.Frame] = []
            for _ in 0..<count {
                // Favour small and empty messages as well as large ones.
                let size =
                    switch Int.random(in: 0..<4, using: &rng) {
                    case 0: 0
                    case 1: Int.random(in: 1...8, using: &rng)
                    default: Int.random(in: 0...5000, using: &rng)
                    }
                messages.append(.init(compressed: Bool.random(using: &rng), payload: rng.bytes(size)))
            }
            var bytes: [UInt8] = []
            for m in messages { MessageFramer.append(m.payload, compressed: m.compressed, to: &bytes) }
            var chunks: [[UInt8]] = []
            var i = 0
            while i < bytes.count {
                let maxChunk = [1, 3, 16, 700, 9000][Int.random(in: 0..<5, using: &rng)]
                let n = Int.random(in: 0...maxChunk, using: &rng)
                chunks.append(Array(bytes[i..<min(i + n, bytes.count)]))
                i += n
            }
            let (frames, deframer) = try deframe(chunks, maxMessageBytes: 5000)
            #expect(frames == messages, "iteration \(iteration)")
            #expect(!deframer.hasPartialMessage, "iteration \(iteration)")
        }
    }
}
