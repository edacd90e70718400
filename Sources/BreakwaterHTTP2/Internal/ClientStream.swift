@_spi(Locking) import BreakwaterCore
import CNghttp2

/// One gRPC stream of `HTTP2ClientTransport`.
///
/// The application side (`send`, `next`, `cancel`) meets the loop side through `shared`, a small
/// locked mailbox: taking an event that is already there costs one lock, no thread hop.
final class ClientStream: ClientTransportStream, @unchecked Sendable {
    // Safety: `shared` is protected by its Mutex; `head`, `loop`, `manager` are immutable; every other
    // stored var is touched only on `loop`'s thread, and is `@exclusivity(unchecked)` for the reasons
    // given in `HTTP2Connection`.

    struct Shared {
        /// Events not yet taken, with the wire bytes of each message (0 for the others).
        var events = SmallQueue<(ClientStreamEvent, Int)>()
        var waiter: UnsafeContinuation<ClientStreamEvent?, Never>?
        var endDelivered = false
        var window = InboundWindow()
        var outbound = OutboundGate()
        var finishSendingRequested = false
        /// The stream was not handed to the connection manager yet: the first command carries it there.
        var openPending = true
    }

    let head: ClientRequestHead
    let loop: EventLoop
    let manager: ClientConnectionManager
    private let shared = TSanMutex(Shared())

    // Loop-confined.
    @exclusivity(unchecked) var machine: GRPCClientStreamMachine
    @exclusivity(unchecked) var streamID: Int32 = -1
    @exclusivity(unchecked) var connection: ClientConnection?
    @exclusivity(unchecked) var outbound = OutboundMessages()
    @exclusivity(unchecked) var outboundEnded = false
    @exclusivity(unchecked) var endStreamSent = false
    @exclusivity(unchecked) var requestSent = false
    @exclusivity(unchecked) var dataDeferred = false
    @exclusivity(unchecked) var deadlineTimer: UInt64?
    @exclusivity(unchecked) var unconsumed = 0
    var isEnded: Bool { machine.isEnded }

    init(head: ClientRequestHead, loop: EventLoop, manager: ClientConnectionManager) {
        self.head = head
        self.loop = loop
        self.manager = manager
        machine = GRPCClientStreamMachine(maxReceiveMessageBytes: head.maxReceiveMessageBytes)
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
            return (mustWait, Self.takeOpen(&s))
        }
        if loop.inEventLoop {
            if open { manager.open(self) }
            appendOutbound(payload, compressed: compressed, end: endStream)
        } else {
            loop.execute {
                if open { self.manager.open(self) }
                self.appendOutbound(payload, compressed: compressed, end: endStream)
            }
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
            return (!s.finishSendingRequested, Self.takeOpen(&s))
        }
        if first { runOnLoop(open: open) { self.appendOutbound(nil, compressed: false, end: true) } }
    }

    func next() async -> ClientStreamEvent? {
        if case .some(let ready) = takeEvent() { return ready }
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (c: UnsafeContinuation<ClientStreamEvent?, Never>) in
                let (immediate, open) = shared.withLock { s -> ((ClientStreamEvent?, Bool)?, Bool) in
                    if let taken = Self.take(&s) { return (taken, false) }
                    s.waiter = c
                    return (nil, Self.takeOpen(&s))
                }
                if open { runOnLoop(open: true) {} }
                if let (event, kick) = immediate {
                    if kick { loop.execute { self.consumeHeldBack() } }
                    c.resume(returning: event)
                }
            }
        } onCancel: {
            self.cancel()
        }
    }

    func cancel() {
        // A stream cancelled before its first command never reaches the network (no HEADERS, no
        // RST_STREAM). It still ends as any cancelled call (not marked as never sent: that would invite a
        // transparent retry of a call its caller gave up).
        shared.withLock { s in s.openPending = false }
        loop.executeOrRun {
            self.fail(Status(code: .cancelled, message: "call cancelled"), reset: StatusMapping.HTTP2ErrorCode.cancel.rawValue)
        }
    }

    /// Under the lock: whether this caller must carry the open to the loop (true once, for the first command).
    private static func takeOpen(_ s: inout Shared) -> Bool {
        defer { s.openPending = false }
        return s.openPending
    }

    /// Runs `work` on the loop (at once when called there), after handing the stream to the connection
    /// manager when `open`: a unary call crosses to the loop once, with its open and its message together.
    private func runOnLoop(open: Bool, _ work: @escaping @Sendable () -> Void) {
        if loop.inEventLoop {
            if open { manager.open(self) }
            work()
        } else if open {
            loop.execute {
                self.manager.open(self)
                work()
            }
        } else {
            loop.execute(work)
        }
    }

    /// The next event if one is ready (`.some(nil)` after the end), without suspending.
    private func takeEvent() -> ClientStreamEvent?? {
        let taken = shared.withLock { s in Self.take(&s) }
        guard let (event, kick) = taken else { return .none }
        if kick { loop.executeOrRun { self.consumeHeldBack() } }
        return .some(event)
    }

    /// Takes the next event under the lock: (event or nil after the end, whether to kick the loop).
    private static func take(_ s: inout Shared) -> (ClientStreamEvent?, Bool)? {
        if let (event, wire) = s.events.popFirst() {
            if case .end = event { s.endDelivered = true }
            let kick = wire > 0 ? s.window.taken(wire) : false
            return (event, kick)
        }
        if s.endDelivered { return (nil, false) }
        return nil
    }

    // MARK: Loop side

    /// Delivers machine outputs to the application and carries out an end (reset, cleanup).
    func deliver(_ outputs: [GRPCClientStreamMachine.Output]) {
        guard !outputs.isEmpty else { return }
        var reset: UInt32?
        var sendError: RPCError?
        for case .end(let end, let resetCode) in outputs {
            reset = resetCode
            sendError =
                end.status.code == .ok
                ? RPCError(code: .failedPrecondition, message: "the call has already ended")
                : RPCError(status: end.status)
        }
        let (resume, writer) = shared.withLock {
            s -> ((UnsafeContinuation<ClientStreamEvent?, Never>, ClientStreamEvent?)?, UnsafeContinuation<Void, any Error>?) in
            for output in outputs {
                switch output {
                case .headers(let metadata):
                    s.events.append((.headers(metadata), 0))
                case .message(let bytes, let wire):
                    s.events.append((.message(bytes), wire))
                    _ = s.window.queued(wire)
                case .end(let end, _):
                    s.events.append((.end(end), 0))
                }
            }
            let writer = sendError.flatMap { s.outbound.fail($0) }
            if let waiter = s.waiter, let (event, _) = Self.take(&s) {
                s.waiter = nil
                return ((waiter, event), writer)
            }
            return (nil, writer)
        }
        if let (waiter, event) = resume { waiter.resume(returning: event) }
        guard let sendError else { return }
        writer?.resume(throwing: sendError)
        if let deadlineTimer {
            loop.cancelTimer(deadlineTimer)
            self.deadlineTimer = nil
        }
        outbound.removeAll()
        if let reset {
            connection?.resetStream(streamID, code: reset)
        } else if streamID > 0 && !endStreamSent {
            // The response is complete while the request is still open: stop the request.
            connection?.resetStream(streamID, code: StatusMapping.HTTP2ErrorCode.noError.rawValue)
        }
        manager.streamEnded(self)
    }

    /// Ends the stream locally (deadline, cancel, connection failure).
    func fail(_ status: Status, neverReachedServer: Bool = false, reset: UInt32? = nil) {
        guard let output = machine.fail(status, neverReachedServer: neverReachedServer, reset: streamID > 0 ? reset : nil) else {
            return
        }
        deliver([output])
    }

    /// Returns held-back received bytes to flow control.
    func consumeHeldBack() {
        guard unconsumed > 0 else { return }
        let n = unconsumed
        unconsumed = 0
        if let connection {
            connection.consume(machine.isEnded ? 0 : streamID, n)
        }
    }

    /// Queues a message (`payload` nil: none) and, with `end`, the end of the request. Loop thread.
    func appendOutbound(_ payload: [UInt8]?, compressed: Bool, end: Bool) {
        guard !machine.isEnded, !outboundEnded else { return }
        if let payload { outbound.append(payload, compressed: compressed) }
        if end { outboundEnded = true }
        if dataDeferred, let connection {
            dataDeferred = false
            connection.resumeData(streamID)
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
        deliver(machine.receiveData(bytes))
        if shared.withLock({ !$0.window.kickWanted }) { consumeHeldBack() }
    }
}
