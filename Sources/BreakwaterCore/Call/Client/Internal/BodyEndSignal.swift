import Synchronization

/// Tells its observer exactly once how a wrapped response body ended: from the iterator that saw the
/// trailers or the error, or from `deinit` (``ClientResponseEnd/abandoned``) when the body and its
/// iterators were dropped first. The once-only flag is an `Atomic`.
final class BodyEndSignal: Sendable {
    private let fired = Atomic<Bool>(false)
    private let observer: any ClientResponseObserver

    init(_ observer: some ClientResponseObserver) {
        self.observer = observer
    }

    deinit {
        if !fired.load(ordering: .acquiring) { observer.responseEnded(.abandoned) }
    }

    func fire(_ end: ClientResponseEnd) {
        if fired.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
            observer.responseEnded(end)
        }
    }
}
