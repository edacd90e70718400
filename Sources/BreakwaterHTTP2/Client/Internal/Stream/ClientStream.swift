@_spi(Locking) import BreakwaterCore
import BreakwaterWire
import CNghttp2

/// One gRPC stream of `HTTP2ClientTransport`.
///
/// The application side (`send`, `next`, `cancel`) meets the loop side through `shared`, a small
/// locked mailbox: taking an event that is already there costs one lock, no thread hop.
final class ClientStream: ClientTransportStream, ReceiveBudgetWaiter, EventLoopTurnObserver, @unchecked Sendable {
    // Safety: `shared` is protected by its Mutex; `head`, `loop`, `router` are immutable; every other
    // stored var is touched only on `loop`'s thread, and is `@exclusivity(unchecked)` for the reasons
    // given in `HTTP2Session`.

    let head: ClientRequestHead
    let loop: EventLoop
    /// Where the stream goes when it opens: one connection manager, or a load balancer that picks one.
    let router: any ClientStreamRouter
    private let shared: TSanMutex<Shared>

    // Loop-confined.
    // Loop-confined, and changed by the stream only: its connection tells it what happened.
    /// The stream's protocol state; every change to it goes through its methods.
    @exclusivity(unchecked) private(set) var machine: GRPCClientStreamMachine
    @exclusivity(unchecked) private(set) var streamID: Int32 = -1
    @exclusivity(unchecked) private(set) var connection: ClientConnection?
    @exclusivity(unchecked) var outbound = OutboundMessages()
    @exclusivity(unchecked) var outboundEnded = false
    @exclusivity(unchecked) var endStreamSent = false
    @exclusivity(unchecked) private(set) var requestSent = false
    @exclusivity(unchecked) var dataDeferred = false
    @exclusivity(unchecked) var deadlineTimer: UInt64?
    @exclusivity(unchecked) var unconsumed = 0
    /// The connection's receive budget (loop side), and the bytes of a message still arriving counted in it.
    @exclusivity(unchecked) private var budget: ConnectionReceiveBudget?
    @exclusivity(unchecked) private var countedPartial = 0
    /// The stream asked for `endOfTurn` in this loop turn: to wake a waiting reader (see `deliver`), and to
    /// consume `consumable` of the `unconsumed` bytes (see `receiveData`).
    @exclusivity(unchecked) private var turnScheduled = false
    @exclusivity(unchecked) private var wakeWanted = false
    @exclusivity(unchecked) private var consumable = 0
    /// The connection's read count when the stream started: equal at a deadline or cancel, the connection
    /// said nothing in all that time and may be dead.
    @exclusivity(unchecked) private var readsAtStart = 0
    /// The load balancer's pick for this stream, if a balancer routed it (the balancer's bookkeeping).
    @exclusivity(unchecked) var subchannel: Subchannel?
    var isEnded: Bool { machine.isEnded }

    init(head: ClientRequestHead, loop: EventLoop, router: any ClientStreamRouter, receiveBufferBytes: Int) {
        self.head = head
        self.loop = loop
        self.router = router
        shared = TSanMutex(Shared(inbox: Inbox(bufferLimit: receiveBufferBytes)))
        machine = GRPCClientStreamMachine(maxReceiveMessageBytes: head.maxReceiveMessageBytes)
    }

    deinit {
        // Messages the caller never took leave the connection's budget with the stream.
        let (budget, queued) = shared.withLock { s in (s.budget, s.inbox.dropItems()) }
        budget?.release(held: queued + countedPartial, queued: queued)
    }

    // MARK: Told by the connection (loop thread)

    /// The stream was submitted as `id` on `connection`, whose receive budget it now shares.
    func started(id: Int32, on connection: ClientConnection) {
        streamID = id
        self.connection = connection
        readsAtStart = connection.session.readCount
        budget = connection.session.receiveBudget
        shared.withLock { $0.budget = connection.session.receiveBudget }
    }

    /// The request HEADERS went to the socket: from now on the server may have seen the call.
    func requestHeadersSent() {
        requestSent = true
    }

    /// A whole response header block arrived (headers, trailers-only or trailers).
    func receiveHeaderBlock(_ fields: [HeaderField], endStream: Bool) {
        deliver(machine.receiveHeaderBlock(fields, endStream: endStream))
    }

    /// END_STREAM on a DATA frame.
    func receiveEndOfStream() {
        deliver(machine.receiveEndOfStream())
    }

    /// The HTTP/2 stream closed with `errorCode`; the stream leaves its connection.
    func streamClosed(errorCode: UInt32) {
        deliver(machine.streamClosed(errorCode: errorCode, requestSent: requestSent))
        consumeHeldBack()
        connection = nil
    }

    /// The connection is gone (or could not send the request): the call ends with `status`, marked as never
    /// having reached the server when its request HEADERS did not go out.
    func lost(_ status: Status) {
        connection = nil
        fail(status, neverReachedServer: !requestSent)
    }

    // MARK: Application side

    func send(_ message: [UInt8], endStream: Bool) async throws {
        // Framed on the loop: the 5-byte prefix goes with the payload, which is read in place.
        let compressed = head.compression != .identity
        let payload = compressed ? try MessageCompression.compress(message, using: head.compression) : message
        let (mustWait, open) = try shared.withLock { s throws(RPCError) -> (Bool, Bool) in
            if s.finishSendingRequested {
                throw RPCError(code: .failedPrecondition, message: "the request side of the stream is already finished")
            }
            let mustWait = try s.outbound.accept(OutboundMessages.wireCount(payload))
            if endStream { s.finishSendingRequested = true }
            return (mustWait, s.takeOpen())
        }
        // Written from this thread when the loop sleeps (`submit`): a unary call then wakes nobody to send.
        loop.submit {
            if open { self.openOnLoop() }
            self.appendOutbound(payload, compressed: compressed, end: endStream)
        }
        if mustWait {
            try await withUnsafeThrowingContinuation { (c: UnsafeContinuation<Void, any Error>) in
                if let (c, error) = shared.withLock({ $0.outbound.park(c) }) {
                    if let error { c.resume(throwing: error) } else { c.resume() }
                }
            }
        }
    }

    func finishSending() {
        let (first, open) = shared.withLock { s -> (Bool, Bool) in
            defer { s.finishSendingRequested = true }
            return (!s.finishSendingRequested, s.takeOpen())
        }
        if first { runOnLoop(open: open) { self.appendOutbound(nil, compressed: false, end: true) } }
    }

    func next() async -> ClientStreamEvent? {
        let next: Inbox.Next
        switch takeNow() {
        case .done:
            return nil
        case .ready(let ready):
            next = ready
        case .empty:
            // Only this caller takes, so what was not there a moment ago can only arrive from the loop.
            next = await withTaskCancellationHandler {
                await withUnsafeContinuation { (reader: Inbox.Waiter) in
                    let (immediate, open) = shared.withLock { s -> ((Inbox.Next, Int, Bool)?, Bool) in
                        if let ready = s.take(orPark: reader) { return (ready, false) }
                        return (nil, s.takeOpen())
                    }
                    if open { runOnLoop(open: true) {} }
                    if let (ready, wireBytes, kick) = immediate {
                        release(wireBytes)
                        if kick { loop.execute { self.kicked() } }
                        reader.resume(returning: ready)
                    }
                }
            } onCancel: {
                self.cancel()
            }
        }
        return event(for: next)
    }

    func nextIfReady() -> ClientStreamPoll {
        switch takeNow() {
        case .done: .ready(nil)
        case .ready(let next): .ready(event(for: next))
        case .empty: .notReady
        }
    }

    /// The event a taken value makes: a message is decompressed here, on the reader's thread.
    private func event(for next: Inbox.Next) -> ClientStreamEvent? {
        switch next {
        case .end:
            return shared.withLock { $0.inbox.end }.map { .end($0) }
        case .item(.headers(let metadata)):
            return .headers(metadata)
        case .item(.message(let message, let encoding)):
            do {
                return .message(try message.decoded(using: encoding, limit: head.maxReceiveMessageBytes))
            } catch {
                // A message that does not inflate, or inflates past the limit, ends the call.
                let (budget, dropped) = shared.withLock { s -> (ConnectionReceiveBudget?, Int) in
                    s.endDelivered = true
                    return (s.budget, s.inbox.dropItems())
                }
                budget?.release(held: dropped, queued: dropped)
                loop.executeOrRun { self.fail(error.status, reset: StatusMapping.HTTP2ErrorCode.cancel.rawValue) }
                return .end(ClientStreamEnd(status: error.status))
            }
        }
    }

    /// What a take found.
    private enum Taken {
        case ready(Inbox.Next)
        case empty
        /// The caller already had the end.
        case done
    }

    /// The next value if one is ready, without suspending.
    private func takeNow() -> Taken {
        // The budget comes with the take: a second lock per message only to read it would cost more.
        let (taken, wireBytes, kick, budget) = shared.withLock { s -> (Taken, Int, Bool, ConnectionReceiveBudget?) in
            if s.endDelivered { return (.done, 0, false, nil) }
            guard let (next, wireBytes, kick) = s.take() else { return (.empty, 0, false, nil) }
            return (.ready(next), wireBytes, kick, s.budget)
        }
        if wireBytes > 0 { budget?.release(held: wireBytes, queued: wireBytes) }
        if kick { loop.executeOrRun { self.kicked() } }
        return taken
    }

    /// Taken messages leave the connection's budget; never under the stream's lock (a release can run
    /// the loop's held-back streams, this one among them).
    private func release(_ wireBytes: Int) {
        guard wireBytes > 0, let budget = shared.withLock({ $0.budget }) else { return }
        budget.release(held: wireBytes, queued: wireBytes)
    }

    func cancel() {
        // A stream cancelled before its first command never reaches the network (no HEADERS, no
        // RST_STREAM). It still ends as any cancelled call (not marked as never sent: that would invite a
        // transparent retry of a call its caller gave up).
        shared.withLock { s in s.openPending = false }
        loop.executeOrRun {
            self.endByCaller(Status(code: .cancelled, message: "call cancelled"), neverReachedServer: false)
        }
    }

    /// Runs `work` on the loop (at once when this thread may act as the loop), after handing the stream to
    /// the connection router when `open`: a unary call crosses to the loop once, with its open and its
    /// message together.
    private func runOnLoop(open: Bool, _ work: @escaping @Sendable () -> Void) {
        if open {
            loop.submit {
                self.openOnLoop()
                work()
            }
        } else {
            loop.submit(work)
        }
    }

    // MARK: Loop side

    /// The stream's first command reached the loop: arm the deadline, then hand the stream to its router
    /// (which starts it, queues it or fails it).
    private func openOnLoop() {
        if let deadline = head.deadline {
            if deadline <= .now {
                fail(Status(code: .deadlineExceeded, message: "deadline exceeded before the call started"), neverReachedServer: true)
                return
            }
            deadlineTimer = loop.scheduleTimer(at: deadline) { [self] in
                deadlineTimer = nil
                endByCaller(Status(code: .deadlineExceeded, message: "deadline exceeded"), neverReachedServer: !requestSent)
            }
        }
        router.open(self)
    }

    /// Delivers machine outputs to the application and carries out an end (reset, cleanup). Returns whether
    /// the stream is now behind (received bytes must wait for the reader), or nil when there was nothing
    /// to deliver.
    ///
    /// Headers and messages are queued without waking a waiting reader: it is woken once, at the end of
    /// the loop turn (`endOfTurn`), and then finds everything that turn's reads brought. Woken per DATA
    /// frame, a reader that keeps up would be resumed (a thread wake-up) and park again for each message.
    /// The end wakes it at once, after what is queued.
    @discardableResult
    func deliver(_ outputs: consuming GRPCClientStreamMachine.Outputs) -> Bool? {
        guard !outputs.isEmpty else { return nil }
        // The summaries the outputs keep spare a pass over them here.
        let reset = outputs.end?.reset
        let endStatus = outputs.end?.end.status
        let sendError = endStatus.map { status in
            status.code == .ok
                ? RPCError(code: .failedPrecondition, message: "the call has already ended")
                : RPCError(status: status)
        }
        let wireBytes = outputs.messageWireBytes
        if wireBytes > 0 {
            budget?.received(wireBytes)
            budget?.queuedMessage(wireBytes)
        }
        let encoding = machine.encoding
        var unaccepted = 0
        let (resume, writer, wakeLater, behind) = shared.withLock {
            s -> ((Inbox.Waiter, Inbox.Next)?, UnsafeContinuation<Void, any Error>?, Bool, Bool) in
            // At most one caller waits; only the end wakes it here, with the first value queued.
            var reader: (Inbox.Waiter, Inbox.Next)?
            while let output = outputs.popFirst() {
                switch output {
                case .headers(let metadata):
                    _ = s.inbox.pushQuietly(.headers(metadata), wireBytes: 0)
                case .message(let message):
                    if !s.inbox.pushQuietly(.message(message, encoding), wireBytes: message.wireBytes) {
                        unaccepted += message.wireBytes
                    }
                case .end(let end, _):
                    reader = reader ?? s.inbox.finish(end)
                }
            }
            if let (_, next) = reader {
                if case .item(.message(let message, _)) = next { unaccepted += message.wireBytes }  // taken at once
                s.noteTaken(next)
            }
            return (reader, sendError.flatMap { s.outbound.fail($0) }, s.inbox.hasWaiter, s.inbox.isBehind)
        }
        if unaccepted > 0 { budget?.release(held: unaccepted, queued: unaccepted) }
        if let (waiter, next) = resume { waiter.resume(returning: next) }
        if wakeLater {
            wakeWanted = true
            scheduleEndOfTurn()
        }
        countPartialMessage()
        guard let sendError, let endStatus else { return behind }
        connection?.session.stopWaitingForBudget(streamID)
        writer?.resume(throwing: sendError)
        if let deadlineTimer {
            loop.cancelTimer(deadlineTimer)
            self.deadlineTimer = nil
        }
        outbound.removeAll()
        if let reset {
            connection?.session.resetStream(streamID, code: reset)
        } else if streamID > 0 && !endStreamSent {
            // The response is complete while the request is still open: stop the request.
            connection?.session.resetStream(streamID, code: StatusMapping.HTTP2ErrorCode.noError.rawValue)
        }
        router.streamEnded(self, status: endStatus)
        return behind
    }

    private func scheduleEndOfTurn() {
        guard !turnScheduled else { return }
        turnScheduled = true
        loop.addTurnObserver(self)
    }

    /// The end of a loop turn in which the stream received: returns the bytes it may consume to the peer's
    /// windows, once for all the turn's DATA frames; and when `deliver` queued values for a waiting reader,
    /// wakes it with the first (it takes the rest itself without waiting).
    func endOfTurn() {
        turnScheduled = false
        if consumable > 0 {
            let n = min(consumable, unconsumed)
            consumable = 0
            unconsumed -= n
            if n > 0, let connection { connection.session.consume(machine.isEnded ? 0 : streamID, n) }
        }
        guard wakeWanted else { return }
        wakeWanted = false
        let woken = shared.withLock { $0.wake() }
        guard let woken else { return }
        if woken.wireBytes > 0 { budget?.release(held: woken.wireBytes, queued: woken.wireBytes) }
        woken.reader.resume(returning: woken.next)
        if woken.kick { kicked() }
    }

    /// Ends the stream by its deadline or its caller's cancel (resetting it when it started). When its
    /// request went out and nothing was read from its connection since it started, the connection hears
    /// about it: it may be dead. (A request that never left says nothing about the connection.)
    private func endByCaller(_ status: Status, neverReachedServer: Bool) {
        guard !machine.isEnded else { return }
        let connection = self.connection
        let silent = requestSent && connection.map { $0.session.readCount == readsAtStart } ?? false
        fail(status, neverReachedServer: neverReachedServer, reset: StatusMapping.HTTP2ErrorCode.cancel.rawValue)
        if silent, let connection { connection.callEndedSilently() }
    }

    /// Ends the stream locally (deadline, cancel, connection failure).
    func fail(_ status: Status, neverReachedServer: Bool = false, connectionNeverEstablished: Bool = false, reset: UInt32? = nil) {
        guard
            let output = machine.fail(
                status, neverReachedServer: neverReachedServer, connectionNeverEstablished: connectionNeverEstablished,
                reset: streamID > 0 ? reset : nil)
        else {
            return
        }
        deliver(GRPCClientStreamMachine.Outputs(output))
    }

    /// Returns held-back received bytes to flow control.
    func consumeHeldBack() {
        guard unconsumed > 0 else { return }
        let n = unconsumed
        unconsumed = 0
        consumable = 0
        if let connection {
            connection.session.consume(machine.isEnded ? 0 : streamID, n)
        }
    }

    /// Queues a message (`payload` nil: none) and, with `end`, the end of the request. Loop thread.
    func appendOutbound(_ payload: [UInt8]?, compressed: Bool, end: Bool) {
        guard !machine.isEnded, !outboundEnded else { return }
        if let payload { outbound.append(payload, compressed: compressed) }
        if end { outboundEnded = true }
        if dataDeferred, let connection {
            dataDeferred = false
            connection.session.resumeData(streamID)
        }
    }

    /// nghttp2 asks for request DATA.
    func readData(into buffer: UnsafeMutableRawBufferPointer, flags: UnsafeMutablePointer<UInt32>) -> Int {
        let n = outbound.read(into: buffer)
        if n > 0 {
            if let writer = shared.withLock({ $0.outbound.drained(n) }) { writer.resume() }
        }
        if outbound.isEmpty && outboundEnded {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            endStreamSent = true
            return n
        }
        if n == 0 {
            dataDeferred = true
            return Int(NGHTTP2_ERR_DEFERRED.rawValue)
        }
        return n
    }

    /// Bytes received for this stream (not yet consumed) arrived: feed the machine.
    func receiveData(_ bytes: UnsafeRawBufferPointer) {
        unconsumed += bytes.count
        let behind = deliver(machine.receiveData(bytes))
        if behind == nil { countPartialMessage() }  // else `deliver` did
        if machine.isEnded {
            consumeHeldBack()
            return
        }
        // `deliver` looked under the lock it took anyway: a DATA frame that brings a message costs one lock.
        if behind ?? shared.withLock({ $0.inbox.isBehind }) { return }  // kicked when the caller takes
        if let budget, budget.isOver, let connection {
            if connection.session.holdBackForBudget(streamID, self) { return }
            fail(
                Status(
                    code: .resourceExhausted,
                    message: "the connection's receive buffer budget (\(budget.limit) bytes) is used up and this call cannot progress"),
                reset: StatusMapping.HTTP2ErrorCode.cancel.rawValue)
            return
        }
        // Everything received so far may go back to the peer: at the end of the turn, for every DATA frame
        // of the turn at once (one nghttp2_session_consume, not one per frame). Bytes received later in
        // the turn are not included: they may have to wait for the reader.
        consumable = unconsumed
        scheduleEndOfTurn()
    }

    /// Brings the budget's count of this stream's partly received message up to date with the machine.
    private func countPartialMessage() {
        guard let budget else { return }
        let partial = machine.partialMessageBytes
        if partial > countedPartial {
            budget.received(partial - countedPartial)
        } else if partial < countedPartial {
            budget.release(held: countedPartial - partial, queued: 0)
        }
        countedPartial = partial
    }

    /// The caller caught up with the stream's buffer: consume what was held back, unless the connection
    /// is over its budget.
    private func kicked() {
        if let budget, budget.isOver, let connection, connection.session.holdBackForBudget(streamID, self) { return }
        consumeHeldBack()
    }

    func connectionBudgetReleased() {
        if !shared.withLock({ $0.inbox.isBehind }) { consumeHeldBack() }
    }
}
