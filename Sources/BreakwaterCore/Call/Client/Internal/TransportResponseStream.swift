import Synchronization

/// The inbound side of one transport stream after its response headers, shared by a `ClientResponse`
/// body and its iterator. Dropping the last reference before the stream ended cancels it, and cancels
/// the task still sending request messages, so no stream outlives its response.
final class TransportResponseStream: Sendable {
    private struct State {
        var pending: ClientStreamEvent?
        var finished = false
    }

    let stream: any ClientTransportStream
    private let sender: RequestSender?
    private let state: Mutex<State>

    init(stream: any ClientTransportStream, sender: RequestSender?, pending: ClientStreamEvent?) {
        self.stream = stream
        self.sender = sender
        self.state = Mutex(State(pending: pending))
    }

    deinit {
        let finished = state.withLock { $0.finished }
        if !finished { stream.cancel() }
        sender?.cancel()
    }

    func cancel() {
        stream.cancel()
    }

    /// The next body part. Reads from one task at a time (the transport's rule for `next`).
    func nextPart() async throws -> ClientResponsePart? {
        while true {
            let (done, pending) = state.withLock { s in (s.finished, s.pending.take()) }
            if done { return nil }
            let event: ClientStreamEvent?
            if let pending { event = pending } else { event = await stream.next() }
            switch event {
            case .message(let bytes)?:
                return .message(bytes)
            case .headers?:
                continue  // a second headers block is a transport bug; ignore it
            case .end(let end)?:
                state.withLock { $0.finished = true }
                sender?.cancel()
                if end.status.code == .ok { return .trailers(end.trailers) }
                throw sender?.failure(orStatusOf: end) ?? RPCError(streamEnd: end)
            case nil:
                state.withLock { $0.finished = true }
                sender?.cancel()
                return nil
            }
        }
    }
}
