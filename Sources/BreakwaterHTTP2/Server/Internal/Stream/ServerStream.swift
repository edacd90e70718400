@_spi(Locking) import BreakwaterCore
import BreakwaterWire
import CNghttp2

/// One gRPC stream of `HTTP2ServerTransport`.
///
/// The handler side (`receive`, `send`, `finish`, `onCancel`) meets the loop side through `shared`;
/// everything that touches nghttp2 runs on `loop` (at once when the handler already runs there).
final class ServerStream: ServerTransportStream, ReceiveBudgetWaiter, @unchecked Sendable {
    // Safety: `shared` is protected by its lock; `head`, `loop`, `streamID`, `connection`, `session` and
    // `budget` are immutable;
    // every other stored var is touched only on `loop`'s thread, and is `@exclusivity(unchecked)` for the
    // reasons given in `HTTP2Session`.

    /// Received messages, as on the wire, until the request side ends (or fails with an error).
    typealias Inbox = InboundMailbox<InboundMessage, Result<Void, RPCError>>

    struct Shared {
        var inbox: Inbox
        var outbound = OutboundGate()
        var cancelled = false
        var finished = false
        /// The first cancel handler inline (a unary handler registers one), the rest in `moreCancelHandlers`.
        var cancelHandler: (@Sendable () -> Void)?
        var moreCancelHandlers: [@Sendable () -> Void] = []

        /// Takes every cancel handler, in registration order.
        mutating func takeCancelHandlers() -> [@Sendable () -> Void] {
            guard let first = cancelHandler else { return [] }
            let handlers = [first] + moreCancelHandlers
            cancelHandler = nil
            moreCancelHandlers = []
            return handlers
        }

        mutating func dropCancelHandlers() {
            cancelHandler = nil
            moreCancelHandlers = []
        }
    }

    let head: ServerRequestHead
    let loop: EventLoop
    let streamID: Int32
    let connection: ServerConnection
    /// The connection's session, held here so that each nghttp2 call is one load, not two.
    let session: HTTP2Session
    private let shared: TSanMutex<Shared>
    private let budget: ConnectionReceiveBudget

    var preferredExecutor: (any TaskExecutor)? { loop }

    /// The largest request message, after decompression.
    let maxReceiveMessageBytes: Int

    // Loop-confined.
    /// The stream's protocol state; every change to it goes through its methods.
    @exclusivity(unchecked) private(set) var machine: GRPCServerStreamMachine
    /// Response messages waiting for nghttp2's data provider.
    @exclusivity(unchecked) private var outbound = OutboundMessages()
    /// nghttp2 was told there is no DATA now (`NGHTTP2_ERR_DEFERRED`) and must be resumed.
    @exclusivity(unchecked) private var dataDeferred = false
    @exclusivity(unchecked) private var deadlineTimer: UInt64?
    /// Received bytes not yet returned to flow control.
    @exclusivity(unchecked) private var unconsumed = 0

    init(
        head: ServerRequestHead, loop: EventLoop, streamID: Int32, connection: ServerConnection, maxReceiveMessageBytes: Int,
        receiveBufferBytes: Int
    ) {
        self.head = head
        self.loop = loop
        self.streamID = streamID
        self.connection = connection
        session = connection.session
        budget = session.receiveBudget
        shared = TSanMutex(Shared(inbox: Inbox(bufferLimit: receiveBufferBytes)))
        self.maxReceiveMessageBytes = maxReceiveMessageBytes
        machine = GRPCServerStreamMachine(maxReceiveMessageBytes: maxReceiveMessageBytes, requestEncoding: head.requestEncoding)
    }

    /// The stream was accepted on the loop: arm its deadline, and end its request side at once when the
    /// HEADERS frame ended the stream. Loop thread.
    func start(requestEnded: Bool) {
        if requestEnded { receiveEndOfStream() }
        if let deadline = head.deadline {
            deadlineTimer = loop.scheduleTimer(at: deadline) { [self] in deadlineExpired() }
        }
    }

    deinit {
        // Whatever is still held leaves the connection's budget (a stream always ends on the loop first;
        // this is the last word for messages its handler never took).
        let queued = shared.withLock { $0.inbox.dropItems() }
        budget.release(held: queued + machine.deframer.bufferedBytes, queued: queued)
    }

    // MARK: Handler side

    func receive() async throws -> [UInt8]? {
        let next: Inbox.Next
        if let ready = shared.withLock({ $0.inbox.take() }) {
            next = taken(ready)
            // A handler that keeps reading what has already arrived lets the loop's other connections in.
            if loop.inEventLoop && loop.turnIsOverBudget { await loop.yieldToIO() }
        } else {
            next = await withUnsafeContinuation { (reader: Inbox.Waiter) in
                if let ready = shared.withLock({ $0.inbox.take(orPark: reader) }) {
                    reader.resume(returning: taken(ready))
                }
            }
        }
        switch next {
        case .end:
            if case .failure(let error)? = shared.withLock({ $0.inbox.end }) { throw error }
            return nil
        case .item(let message):
            do {
                return try message.decoded(using: head.requestEncoding, limit: maxReceiveMessageBytes)
            } catch {
                // A message that does not inflate, or inflates past the limit, ends the call with its status.
                let dropped = shared.withLock { $0.inbox.fail(.failure(error)).dropped }
                budget.release(held: dropped, queued: dropped)
                loop.executeOrRun { self.finishOnLoop(status: error.status, trailers: [:], failHandlerWith: error) }
                throw error
            }
        }
    }

    /// After a take: the message leaves the connection's budget, and the loop hears when the handler
    /// caught up.
    private func taken(_ taken: (next: Inbox.Next, wireBytes: Int, kick: Bool)) -> Inbox.Next {
        if taken.wireBytes > 0 { budget.release(held: taken.wireBytes, queued: taken.wireBytes) }
        if taken.kick { loop.executeOrRun { self.kicked() } }
        return taken.next
    }

    func sendHeaders(_ metadata: Metadata) async throws {
        if let failure = shared.withLock({ $0.outbound.failure }) { throw failure }
        // Handlers run on the loop (their task's executor preference): no closure, no queue.
        if loop.inEventLoop { submitHeaders(metadata) } else { loop.execute { self.submitHeaders(metadata) } }
    }

    func send(_ message: [UInt8]) async throws {
        // Framed on the loop: the 5-byte prefix goes with the payload, which is read in place.
        let compressed = head.responseEncoding != .identity
        let payload = compressed ? try MessageCompression.compress(message, using: head.responseEncoding) : message
        let mustWait = try shared.withLock { s throws(RPCError) -> Bool in
            try s.outbound.accept(OutboundMessages.wireCount(payload))
        }
        if loop.inEventLoop {
            appendOutbound(payload, compressed: compressed)
            // A handler that keeps writing without ever waiting lets the loop's other connections in.
            if !mustWait && loop.turnIsOverBudget { await loop.yieldToIO() }
        } else {
            loop.execute { self.appendOutbound(payload, compressed: compressed) }
        }
        if mustWait {
            try await withUnsafeThrowingContinuation { (c: UnsafeContinuation<Void, any Error>) in
                if let (c, error) = shared.withLock({ $0.outbound.park(c) }) {
                    if let error { c.resume(throwing: error) } else { c.resume() }
                }
            }
        }
    }

    func finish(status: Status, trailers: Metadata) {
        if loop.inEventLoop {
            finishOnLoop(status: status, trailers: trailers)
        } else {
            loop.execute { self.finishOnLoop(status: status, trailers: trailers) }
        }
    }

    func onCancel(_ handler: @escaping @Sendable () -> Void) {
        let runNow = shared.withLock { s -> Bool in
            if s.cancelled { return true }
            if !s.finished {
                if s.cancelHandler == nil { s.cancelHandler = handler } else { s.moreCancelHandlers.append(handler) }
            }
            return false
        }
        if runNow { handler() }
    }

    // MARK: Loop side

    private func submitHeaders(_ metadata: Metadata?) {
        guard let h2 = session.nghttp2, machine.startResponse() else { return }
        var provider = HTTP2Session.dataProvider
        if let metadata, !metadata.isEmpty {
            let fields = GRPCHeaders.responseHeaders(metadata: metadata, encoding: head.responseEncoding)
            _ = session.headerScratch.withFields(fields) { nva, count in
                nghttp2_submit_response(h2, streamID, nva, count, &provider)
            }
        } else {
            _ = connection.responseHeaders(encoding: head.responseEncoding).withFields { nva, count in
                nghttp2_submit_response(h2, streamID, nva, count, &provider)
            }
        }
        session.scheduleFlush()
    }

    private func appendOutbound(_ payload: [UInt8], compressed: Bool) {
        guard machine.acceptsMessages else { return }
        outbound.append(payload, compressed: compressed)
        if machine.response == .notStarted {
            submitHeaders(nil)
        } else {
            resumeIfDeferred()
        }
    }

    private func resumeIfDeferred() {
        if dataDeferred {
            dataDeferred = false
            session.resumeData(streamID)
        }
    }

    /// Ends the response with `status`; `cancel` also runs the cancel handlers and fails the handler's
    /// pending and future calls (transport-initiated ends: deadline, limits, malformed requests).
    func finishOnLoop(status: Status, trailers: Metadata, failHandlerWith error: RPCError? = nil) {
        guard !machine.isFinished, let h2 = session.nghttp2 else { return }
        if let deadlineTimer {
            loop.cancelTimer(deadlineTimer)
            self.deadlineTimer = nil
        }
        if let error {
            failHandler(error, runCancelHandlers: true)
        } else {
            let writer = shared.withLock { s -> UnsafeContinuation<Void, any Error>? in
                s.finished = true
                s.dropCancelHandlers()
                return s.outbound.fail(RPCError(code: .failedPrecondition, message: "the stream has already finished"))
            }
            writer?.resume(throwing: RPCError(code: .failedPrecondition, message: "the stream has already finished"))
        }
        switch machine.finish(status: status, trailers: trailers) {
        case .none:
            return
        case .trailersOnly(let fields):
            _ = session.headerScratch.withFields(fields) { nva, count in
                nghttp2_submit_response(h2, streamID, nva, count, nil)
            }
        case .trailersAfterMessages:
            resumeIfDeferred()
        }
        session.scheduleFlush()
    }

    /// Fails the handler's receive and send; runs the cancel handlers (later on the loop, never inside an
    /// nghttp2 callback).
    private func failHandler(_ error: RPCError, runCancelHandlers: Bool) {
        var dropped = 0
        let (reader, writer, handlers) = shared.withLock {
            s -> ((Inbox.Waiter, Inbox.Next)?, UnsafeContinuation<Void, any Error>?, [@Sendable () -> Void]) in
            let (lost, reader) = s.inbox.fail(.failure(error))
            dropped = lost
            let writer = s.outbound.fail(error)
            var handlers: [@Sendable () -> Void] = []
            if runCancelHandlers && !s.cancelled && !s.finished {
                s.cancelled = true
                handlers = s.takeCancelHandlers()
            }
            s.finished = true
            return (reader, writer, handlers)
        }
        budget.release(held: dropped, queued: dropped)
        if handlers.isEmpty {
            if let (waiter, next) = reader { waiter.resume(returning: next) }
            writer?.resume(throwing: error)
        } else {
            // Cancel handlers first (they cancel the handler's task), then wake the handler: it then sees
            // both the error and its task cancelled, whichever it looks at.
            loop.execute {
                for handler in handlers { handler() }
                if let (waiter, next) = reader { waiter.resume(returning: next) }
                writer?.resume(throwing: error)
            }
        }
    }

    /// The deadline from `grpc-timeout` passed.
    private func deadlineExpired() {
        deadlineTimer = nil
        let status = Status(code: .deadlineExceeded, message: "deadline exceeded")
        finishOnLoop(status: status, trailers: [:], failHandlerWith: RPCError(status: status))
    }

    /// DATA for this stream.
    func receiveData(_ bytes: UnsafeRawBufferPointer) {
        unconsumed += bytes.count
        guard machine.receiveData(bytes) else {
            consumeHeldBack()
            return
        }
        budget.received(bytes.count)
        var failure: Status?
        /// Whether the application is behind (the last push said so); nil when nothing was pushed.
        var holdBack: Bool?
        var wireBytes = 0
        while true {
            do {
                guard let message = try machine.nextMessage(wireBytes: &wireBytes) else { break }
                budget.queuedMessage(message.wireBytes)
                holdBack = push(message)
            } catch {
                failure = error.status
                // A rejected message that left the deframer (compressed without an encoding) was counted.
                if wireBytes > 0 { budget.release(held: wireBytes, queued: 0) }
                break
            }
        }
        if let failure {
            end(failure)
            return
        }
        if holdBack ?? shared.withLock({ $0.inbox.isBehind }) { return }  // kicked when the handler takes
        if budget.isOver && !session.holdBackForBudget(streamID, self) {
            end(
                Status(
                    code: .resourceExhausted,
                    message: "the connection's receive buffer budget (\(budget.limit) bytes) is used up and this stream cannot progress"))
            return
        }
        if !budget.isOver { consumeHeldBack() }
    }

    /// Ends the call from the loop with `status` (a malformed or over-budget request) and drops what it
    /// held.
    private func end(_ status: Status) {
        finishOnLoop(status: status, trailers: [:], failHandlerWith: RPCError(status: status))
        dropPartialMessage()
        consumeHeldBack()
    }

    /// Drops the part of a message still arriving (the stream ended) from the deframer and the budget.
    private func dropPartialMessage() {
        let partial = machine.dropPartialMessage()
        if partial > 0 { budget.release(held: partial, queued: 0) }
    }

    /// Queues one message for the handler (resuming it if it waits); returns whether the received bytes
    /// must be held back (the handler is more than its stream buffer behind).
    private func push(_ message: InboundMessage) -> Bool {
        let (pushed, holdBack) = shared.withLock { s in
            (s.inbox.push(message, wireBytes: message.wireBytes), s.inbox.isBehind)
        }
        if !pushed.accepted {
            // The request side already failed: the message goes nowhere.
            budget.release(held: message.wireBytes, queued: message.wireBytes)
        }
        if let (waiter, next) = pushed.reader {
            if case .item(let taken) = next { budget.release(held: taken.wireBytes, queued: taken.wireBytes) }
            waiter.resume(returning: next)
        }
        return holdBack
    }

    /// The client ended its side (END_STREAM).
    func receiveEndOfStream() {
        switch machine.receiveEndOfStream() {
        case .ignored:
            return
        case .truncated(let status):
            finishOnLoop(status: status, trailers: [:], failHandlerWith: RPCError(status: status))
        case .endOfMessages:
            if let (waiter, next) = shared.withLock({ $0.inbox.finish(.success(())) }) {
                waiter.resume(returning: next)
            }
        }
    }

    /// The HTTP/2 stream closed (normally, by RST_STREAM, or with the connection).
    func streamClosed(errorCode: UInt32) {
        let handlerRunning = machine.streamClosed()
        if let deadlineTimer {
            loop.cancelTimer(deadlineTimer)
            self.deadlineTimer = nil
        }
        outbound.removeAll()
        let status =
            errorCode == 0
            ? Status(code: .cancelled, message: "stream closed")
            : StatusMapping.status(forRSTStreamCode: errorCode)
        failHandler(RPCError(status: status), runCancelHandlers: handlerRunning)
        dropPartialMessage()
        session.stopWaitingForBudget(streamID)
        consumeHeldBack()
    }

    /// The handler caught up with the stream's buffer: consume what was held back, unless the connection
    /// is over its budget.
    private func kicked() {
        if budget.isOver, session.holdBackForBudget(streamID, self) { return }
        consumeHeldBack()
    }

    func connectionBudgetReleased() {
        if !shared.withLock({ $0.inbox.isBehind }) { consumeHeldBack() }
    }

    func consumeHeldBack() {
        guard unconsumed > 0 else { return }
        let n = unconsumed
        unconsumed = 0
        session.consume(machine.isFinished ? 0 : streamID, n)
    }

    /// nghttp2 asks for response DATA.
    func readData(into buffer: UnsafeMutableRawBufferPointer, flags: UnsafeMutablePointer<UInt32>) -> Int {
        let n = outbound.read(into: buffer)
        if n > 0, let writer = shared.withLock({ $0.outbound.drained(n) }) { writer.resume() }
        if outbound.isEmpty, machine.pendingTrailers != nil, let h2 = session.nghttp2,
            let trailers = machine.takeTrailers()
        {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue | NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
            switch trailers {
            case .fields(let fields):
                _ = session.headerScratch.withFields(fields) { nva, count in
                    nghttp2_submit_trailer(h2, streamID, nva, count)
                }
            case .ok:
                _ = connection.okTrailers.withFields { nva, count in nghttp2_submit_trailer(h2, streamID, nva, count) }
            }
            return n
        }
        if n == 0 {
            dataDeferred = true
            return Int(NGHTTP2_ERR_DEFERRED.rawValue)
        }
        return n
    }
}
