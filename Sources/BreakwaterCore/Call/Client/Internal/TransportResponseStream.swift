import Synchronization

/// The inbound side of one transport stream after its response headers, shared by a `ClientResponse`
/// body and its iterator. Dropping the last reference before the stream ended cancels it, and cancels
/// the task still sending request messages, so no stream outlives its response.
///
/// It also carries the body's ``ClientResponseObserver``s: they are told the end from `nextPart` (or
/// `abandoned` from `deinit`), so observing a body adds no layer of iteration.
@usableFromInline
final class TransportResponseStream: Sendable {
    private struct State {
        var pending: ClientStreamEvent?
        var finished = false
        /// How the body ended, once the observers were told.
        var end: ClientResponseEnd?
        /// Two inline slots cover the standard chain (breaker and retry throttle) without an array.
        var firstObserver: (any ClientResponseObserver)?
        var secondObserver: (any ClientResponseObserver)?
        var moreObservers: [any ClientResponseObserver] = []

        /// Records `end` and hands back the observers to tell, at most once.
        mutating func takeObservers(for end: ClientResponseEnd) -> Observers? {
            guard self.end == nil else { return nil }
            self.end = end
            guard let first = firstObserver.take() else { return nil }
            // Swapped out only when there are any: a copy of the empty array is a retain too.
            var more: [any ClientResponseObserver] = []
            if !moreObservers.isEmpty { swap(&more, &moreObservers) }
            return Observers(first: first, second: secondObserver.take(), more: more)
        }
    }

    private struct Observers {
        let first: any ClientResponseObserver
        let second: (any ClientResponseObserver)?
        let more: [any ClientResponseObserver]

        func tell(_ end: ClientResponseEnd) {
            first.responseEnded(end)
            second?.responseEnded(end)
            for observer in more { observer.responseEnded(end) }
        }
    }

    let stream: any ClientTransportStream
    private let sender: RequestSender?
    private let state: TSanMutex<State>
    /// Whether the next part comes straight from the stream: nothing is pending and the body has not
    /// finished. Only the reader changes it (it is set in `init`, after the pending event is taken and at
    /// the finish), so its own relaxed loads see its own stores; it spares the lock for each message.
    private let direct: Atomic<Bool>
    /// The attempt's observers, told each message's size; `nil` when it has none.
    private let observed: CallObservation?

    init(stream: any ClientTransportStream, sender: RequestSender?, pending: ClientStreamEvent?, observed: CallObservation? = nil) {
        self.stream = stream
        self.sender = sender
        self.observed = observed
        self.state = TSanMutex(State(pending: pending))
        self.direct = Atomic(pending == nil)
    }

    deinit {
        let (finished, observers) = state.withLock { ($0.finished, $0.takeObservers(for: .abandoned)) }
        if !finished { stream.cancel() }
        sender?.cancel()
        observers?.tell(.abandoned)
    }

    func cancel() {
        stream.cancel()
    }

    /// Adds an observer; told at once when the body already ended.
    func addObserver(_ observer: some ClientResponseObserver) {
        let ended = state.withLock { state -> ClientResponseEnd? in
            if let end = state.end { return end }
            if state.firstObserver == nil {
                state.firstObserver = observer
            } else if state.secondObserver == nil {
                state.secondObserver = observer
            } else {
                state.moreObservers.append(observer)
            }
            return nil
        }
        if let ended { observer.responseEnded(ended) }
    }

    /// What a read that must not wait found: a part (`nil`: the body has ended), or nothing yet.
    @usableFromInline
    enum Poll {
        case part(ClientResponsePart?)
        case notReady
    }

    /// The next body part. Reads from one task at a time (the transport's rule for `next`).
    func nextPart() async throws -> ClientResponsePart? {
        while true {
            let event: ClientStreamEvent?
            switch takePending() {
            case .finished: return nil
            case .event(let pending): event = pending
            case .fromStream: event = await stream.next()
            }
            if case .part(let part) = try step(for: event) { return part }
        }
    }

    /// The next body part if the stream already has it, as `nextPart` would return it, without suspending.
    /// The same reader rule applies.
    func nextPartIfReady() throws -> Poll {
        while true {
            let event: ClientStreamEvent?
            switch takePending() {
            case .finished: return .part(nil)
            case .event(let pending): event = pending
            case .fromStream:
                guard case .ready(let ready) = stream.nextIfReady() else { return .notReady }
                event = ready
            }
            if case .part(let part) = try step(for: event) { return .part(part) }
        }
    }

    /// Where the next event comes from: the body has finished, the event that came with the headers, or
    /// the stream. Only the reader reads and changes `direct`, so its relaxed loads see its own stores.
    private enum Source {
        case finished
        case event(ClientStreamEvent)
        case fromStream
    }

    private func takePending() -> Source {
        if direct.load(ordering: .relaxed) { return .fromStream }
        let (done, pending) = state.withLock { s in (s.finished, s.pending.take()) }
        if done { return .finished }
        direct.store(true, ordering: .relaxed)
        return pending.map { .event($0) } ?? .fromStream
    }

    /// What a stream event makes of the body: a part, or nothing (`.notReady`: read on). The end tells
    /// the observers.
    private func step(for event: ClientStreamEvent?) throws -> Poll {
        switch event {
        case .message(let bytes)?:
            observed?.report(.messageReceived(bytes: bytes.count))
            return .part(.message(bytes))
        case .headers?:
            return .notReady  // a second headers block is a transport bug; ignore it
        case .end(let end)?:
            sender?.cancel()
            if end.status.code == .ok {
                finish(.trailers(end.trailers))
                return .part(.trailers(end.trailers))
            }
            let error = sender?.failure(orStatusOf: end) ?? RPCError(streamEnd: end)
            finish(.error(error))
            throw error
        case nil:
            sender?.cancel()
            finish(.abandoned)
            return .part(nil)
        }
    }

    private func finish(_ end: ClientResponseEnd) {
        direct.store(false, ordering: .relaxed)
        let observers = state.withLock { state in
            state.finished = true
            return state.takeObservers(for: end)
        }
        observers?.tell(end)
    }
}
