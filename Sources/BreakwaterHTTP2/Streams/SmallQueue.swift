/// A FIFO whose oldest element is stored inline: a stream that never holds more than one element at a
/// time (a unary request's message, a response's headers, message and end taken one by one) never
/// allocates. More elements go to an array that is reused once drained.
struct SmallQueue<Element> {
    /// The oldest element; nil only when the queue is empty.
    private var head: Element?
    /// The elements after `head`, from `tailIndex` on.
    private var tail: [Element] = []
    private var tailIndex = 0

    var isEmpty: Bool { head == nil }

    mutating func append(_ element: Element) {
        if head == nil {
            head = element
        } else {
            tail.append(element)
        }
    }

    mutating func popFirst() -> Element? {
        guard let first = head else { return nil }
        if tailIndex < tail.count {
            head = tail[tailIndex]
            tailIndex += 1
            if tailIndex == tail.count {
                tail.removeAll(keepingCapacity: true)
                tailIndex = 0
            }
        } else {
            head = nil
        }
        return first
    }

    mutating func removeAll() {
        head = nil
        tail = []
        tailIndex = 0
    }
}

extension SmallQueue: Sendable where Element: Sendable {}
