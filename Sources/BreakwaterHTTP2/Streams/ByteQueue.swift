/// A FIFO of bytes waiting for nghttp2's data provider.
struct ByteQueue: Sendable {
    private var storage: [UInt8] = []
    private var readIndex = 0

    var count: Int { storage.count - readIndex }
    var isEmpty: Bool { count == 0 }

    mutating func append(_ bytes: [UInt8]) {
        if storage.isEmpty {
            storage = bytes
            readIndex = 0
        } else {
            if readIndex > 0 && readIndex >= storage.count / 2 {
                storage.removeFirst(readIndex)
                readIndex = 0
            }
            storage.append(contentsOf: bytes)
        }
    }

    /// Copies up to `buffer.count` bytes out; returns how many.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let n = min(buffer.count, count)
        guard n > 0 else { return 0 }
        storage.withUnsafeBytes { raw in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[readIndex..<readIndex + n]))
        }
        readIndex += n
        if readIndex == storage.count {
            storage.removeAll(keepingCapacity: storage.capacity <= 256 * 1024)
            readIndex = 0
        }
        return n
    }

    mutating func removeAll() {
        storage = []
        readIndex = 0
    }
}
