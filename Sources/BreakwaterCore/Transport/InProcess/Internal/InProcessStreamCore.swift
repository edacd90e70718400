/// Both ends of one in-process stream: request messages flowing to the server, events flowing to the
/// client, and how it ended. All state is under one `Mutex`; continuations and cancel handlers are
/// resumed or run after it is released.
final class InProcessStreamCore: Sendable {
    private struct State {
        var requests: [[UInt8]] = []
        var requestIndex = 0
        var requestsFinished = false
        var serverWaiter: CheckedContinuation<Void, Never>?

        var events: [ClientStreamEvent] = []
        var eventIndex = 0
        var clientWaiter: CheckedContinuation<Void, Never>?
        var endDelivered = false

        var headersSent = false
        /// Set once the stream ended, by the server's `finish` or by an abort.
        var end: ClientStreamEnd?
        /// Set when the stream ended abnormally (cancel, deadline, limit, shutdown).
        var aborted: Status?
        /// An abort is running the cancel handlers; the server side sees it (`aborted`) only after them.
        var aborting = false
        var cancelHandlers: [@Sendable () -> Void] = []
    }

    private struct Wakeups {
        var client: CheckedContinuation<Void, Never>?
        var server: CheckedContinuation<Void, Never>?
        var handlers: [@Sendable () -> Void] = []
        var ended = false
    }

    let id: Int
    let head: ServerRequestHead
    let maxRequestBytes: Int
    let maxResponseBytes: Int
    private let onEnd: @Sendable (Int) -> Void
    private let state = TSanMutex(State())

    init(
        id: Int, head: ServerRequestHead, maxRequestBytes: Int, maxResponseBytes: Int,
        onEnd: @escaping @Sendable (Int) -> Void
    ) {
        self.id = id
        self.head = head
        self.maxRequestBytes = maxRequestBytes
        self.maxResponseBytes = maxResponseBytes
        self.onEnd = onEnd
    }

    private func perform(_ wakeups: Wakeups) {
        // Cancel handlers first (they cancel the handler's task), then wake the handler, as
        // `HTTP2ServerTransport` does: a handler whose receive throws also sees its task cancelled.
        for handler in wakeups.handlers { handler() }
        wakeups.client?.resume()
        wakeups.server?.resume()
        if wakeups.ended { onEnd(id) }
    }

    /// Ends the stream in `s` (lock held); returns what to wake.
    private static func end(_ s: inout State, _ end: ClientStreamEnd, aborted: Bool) -> Wakeups {
        s.end = end
        s.events.append(.end(end))
        var wakeups = Wakeups(client: s.clientWaiter.take(), server: s.serverWaiter.take())
        wakeups.ended = true
        if aborted {
            s.aborted = end.status
            wakeups.handlers = s.cancelHandlers
        }
        s.cancelHandlers = []
        return wakeups
    }

    // MARK: Either side

    /// Ends the stream abnormally: the client sees `status`, the server's receive throws it and its
    /// cancel handlers run. Ignored when the stream has already ended.
    ///
    /// In two steps, so that a handler never sees the abort before its task is cancelled (it could be
    /// between two receives, not waiting): the cancel handlers run first, with the stream still open to
    /// the server (a receive meanwhile waits, or throws because its task is cancelled); then the stream
    /// ends and whoever waits is woken. Returns false when another abort is still in its first step (the
    /// stream ends when that one is done).
    @discardableResult
    func abort(_ status: Status, neverReachedServer: Bool = false) -> Bool {
        let handlers = state.withLock { s -> [@Sendable () -> Void]? in
            if s.end != nil { return [] }
            guard !s.aborting else { return nil }
            s.aborting = true
            defer { s.cancelHandlers = [] }
            return s.cancelHandlers
        }
        guard let handlers else { return false }
        for handler in handlers { handler() }
        let wakeups = state.withLock { s -> Wakeups in
            // Handlers registered in between run now (a `serverFinish` in between was ignored).
            guard s.end == nil else { return Wakeups() }
            return Self.end(&s, ClientStreamEnd(status: status, neverReachedServer: neverReachedServer), aborted: true)
        }
        perform(wakeups)
        return true
    }

    private func endedError(_ s: State) -> RPCError? {
        guard let end = s.end else { return nil }
        if let aborted = s.aborted { return RPCError(status: aborted) }
        return RPCError(code: end.status.code == .ok ? .cancelled : end.status.code,
                        message: "The stream has already ended (\(end.status))")
    }

    // MARK: Client side

    func clientSend(_ message: [UInt8], endStream: Bool) throws {
        if message.count > maxRequestBytes {
            abort(Status(
                code: .resourceExhausted,
                message: "Request message of \(message.count) bytes is larger than the limit of \(maxRequestBytes)"))
        }
        let server = try state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let error = endedError(s) { throw error }
            guard !s.requestsFinished else {
                throw RPCError(code: .internalError, message: "The request side has already ended")
            }
            s.requests.append(message)
            if endStream { s.requestsFinished = true }
            return s.serverWaiter.take()
        }
        server?.resume()
    }

    func clientFinishSending() {
        state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.requestsFinished = true
            return s.serverWaiter.take()
        }?.resume()
    }

    func clientNext() async -> ClientStreamEvent? {
        while true {
            switch clientNextIfReady() {
            case .ready(let event): return event
            case .notReady:
                // Unless another abort is under way: then wait below for the end it delivers.
                if Task.isCancelled, abort(Status(code: .cancelled, message: "The call was cancelled")) {
                    continue
                }
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                        let ready = state.withLock { s -> Bool in
                            if s.eventIndex < s.events.count || s.endDelivered { return true }
                            s.clientWaiter = c
                            return false
                        }
                        if ready { c.resume() }
                    }
                } onCancel: {
                    abort(Status(code: .cancelled, message: "The call was cancelled"))
                }
            }
        }
    }

    /// The next event for the client if there is one, without waiting.
    func clientNextIfReady() -> ClientStreamPoll {
        state.withLock { s -> ClientStreamPoll in
            if let event = Self.popFirst(&s.events, &s.eventIndex) {
                if case .end = event { s.endDelivered = true }
                return .ready(event)
            }
            return s.endDelivered ? .ready(nil) : .notReady
        }
    }

    /// Takes the element at `index` of a queue kept as an array and a read index; the array is emptied,
    /// its storage kept, once everything was read.
    private static func popFirst<Element>(_ array: inout [Element], _ index: inout Int) -> Element? {
        guard index < array.count else { return nil }
        let element = array[index]
        index += 1
        if index == array.count {
            array.removeAll(keepingCapacity: true)
            index = 0
        }
        return element
    }

    // MARK: Server side

    func serverReceive() async throws -> [UInt8]? {
        enum Step { case message([UInt8]), finished, wait, fail(RPCError) }
        while true {
            let step = state.withLock { s -> Step in
                if let aborted = s.aborted { return .fail(RPCError(status: aborted)) }
                if let message = Self.popFirst(&s.requests, &s.requestIndex) { return .message(message) }
                return s.requestsFinished || s.end != nil ? .finished : .wait
            }
            switch step {
            case .message(let message): return message
            case .finished: return nil
            case .fail(let error): throw error
            case .wait:
                if Task.isCancelled { throw RPCError(code: .cancelled, message: "The handler was cancelled") }
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                        let ready = state.withLock { s -> Bool in
                            if s.aborted != nil || s.requestIndex < s.requests.count || s.requestsFinished
                                || s.end != nil || Task.isCancelled
                            {
                                return true
                            }
                            s.serverWaiter = c
                            return false
                        }
                        if ready { c.resume() }
                    }
                } onCancel: {
                    state.withLock { $0.serverWaiter.take() }?.resume()
                }
            }
        }
    }

    func serverSendHeaders(_ metadata: Metadata) throws {
        let client = try state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let error = endedError(s) { throw error }
            guard !s.headersSent else { return nil }
            s.headersSent = true
            s.events.append(.headers(metadata))
            return s.clientWaiter.take()
        }
        client?.resume()
    }

    func serverSend(_ message: [UInt8]) throws {
        if message.count > maxResponseBytes {
            abort(Status(
                code: .resourceExhausted,
                message: "Response message of \(message.count) bytes is larger than the limit of \(maxResponseBytes)"))
        }
        let client = try state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let error = endedError(s) { throw error }
            if !s.headersSent {
                s.headersSent = true
                s.events.append(.headers([:]))
            }
            s.events.append(.message(message))
            return s.clientWaiter.take()
        }
        client?.resume()
    }

    func serverFinish(status: Status, trailers: Metadata) {
        let wakeups = state.withLock { s -> Wakeups in
            // An abort under way wins: its first step cancels the handler, whose CANCELLED end would
            // otherwise replace the abort's status (a deadline's DEADLINE_EXCEEDED, say).
            guard s.end == nil, !s.aborting else { return Wakeups() }
            return Self.end(&s, ClientStreamEnd(status: status, trailers: trailers), aborted: false)
        }
        perform(wakeups)
    }

    func serverOnCancel(_ handler: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { s -> Bool in
            if s.aborted != nil { return true }
            if s.end == nil { s.cancelHandlers.append(handler) }
            return false
        }
        if runNow { handler() }
    }
}
