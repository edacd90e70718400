/// A type-erased iterator of response parts, for bodies built from other sequences.
///
/// Not `Sendable`: like any iterator it is used by one task at a time.
final class AnyResponsePartIterator {
    private let nextPart: () async throws -> ClientResponsePart?

    init<Base: AsyncIteratorProtocol>(_ base: Base) where Base.Element == ClientResponsePart {
        let box = Box(base)
        nextPart = { try await box.next() }
    }

    func next() async throws -> ClientResponsePart? {
        try await nextPart()
    }

    private final class Box<Base: AsyncIteratorProtocol> where Base.Element == ClientResponsePart {
        var base: Base
        init(_ base: Base) { self.base = base }
        func next() async throws -> ClientResponsePart? { try await base.next(isolation: #isolation) }
    }
}
