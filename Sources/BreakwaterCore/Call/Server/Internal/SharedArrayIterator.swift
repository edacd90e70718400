/// An array iterator shared between copies of a sequence; its position is under a `Mutex`.
final class SharedArrayIterator<Element: Sendable>: Sendable {
    private let elements: [Element]
    private let index = TSanMutex(0)

    init(_ elements: [Element]) { self.elements = elements }

    func next() -> Element? {
        index.withLock { i in
            guard i < elements.count else { return nil }
            defer { i += 1 }
            return elements[i]
        }
    }
}
