/// Forwards the request messages of a streaming call to its transport stream, in its own task, and
/// remembers why it failed (the request producer threw), so the call ends with that error rather than
/// with the CANCELLED the resulting stream reset produces. State is under a `Mutex`.
final class RequestSender: Sendable {
    private let task: TSanMutex<Task<Void, Never>?> = TSanMutex(nil)
    private let error: TSanMutex<(any Error)?> = TSanMutex(nil)

    /// Starts forwarding `messages` to `stream`, telling `observed`'s observers each message's size.
    /// A message over `sendLimit` bytes fails the call with RESOURCE_EXHAUSTED, unsent.
    static func start(
        messages: RequestMessages, stream: any ClientTransportStream, sendLimit: Int? = nil,
        observed: CallObservation? = nil
    ) -> RequestSender {
        let sender = RequestSender()
        // The iterator is made here, not in the task, so attempts register with the replay buffer in
        // the order they started.
        let firstIterator = messages.makeAsyncIterator()
        let task = Task { [sender] in
            var iterator = firstIterator
            while true {
                let message: [UInt8]?
                do {
                    message = try await iterator.next()
                } catch {
                    if Task.isCancelled || error is CancellationError { return }
                    sender.error.withLock { $0 = error }
                    stream.cancel()
                    return
                }
                guard let message else {
                    stream.finishSending()
                    return
                }
                if let sendLimit, message.count > sendLimit {
                    sender.error.withLock { $0 = TransportCaller.overSendLimit(message.count, sendLimit) }
                    stream.cancel()
                    return
                }
                observed?.report(.messageSent(bytes: message.count))
                do {
                    try await stream.send(message, endStream: false)
                } catch {
                    return  // the stream ended; `next` reports its status
                }
            }
        }
        sender.task.withLock { $0 = task }
        return sender
    }

    func cancel() {
        task.withLock { $0 }?.cancel()
    }

    /// The error the call ends with, given how the stream ended: the producer's failure when there was one.
    func failure(orStatusOf end: ClientStreamEnd) -> RPCError {
        guard let error = error.withLock({ $0 }) else {
            return RPCError(streamEnd: end)
        }
        return RPCError.wrapping(error, code: .unknown, message: "The request producer threw an error")
    }
}
