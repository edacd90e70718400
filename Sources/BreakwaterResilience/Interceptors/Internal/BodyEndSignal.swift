import Synchronization

/// Calls its handler exactly once with how a response body ended: from the iterator that saw the
/// trailers or the error, or from `deinit` (``BodyEnd/abandoned``) when the body and its iterators were
/// dropped first. The once-only flag is an `Atomic`.
final class BodyEndSignal: Sendable {
    private let fired = Atomic<Bool>(false)
    private let handler: @Sendable (BodyEnd) -> Void

    init(_ handler: @escaping @Sendable (BodyEnd) -> Void) {
        self.handler = handler
    }

    deinit {
        if !fired.load(ordering: .acquiring) { handler(.abandoned) }
    }

    func fire(_ end: BodyEnd) {
        if fired.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
            handler(end)
        }
    }
}
