@_spi(Locking) import BreakwaterCore

/// The reference implementation of `echo.Echo`, with optional fault injection.
///
/// - `Get` returns the text unchanged; a text `sleep:<ms>` first waits that long (for deadline tests).
/// - `Expand` splits the text on single spaces and streams one response per word.
/// - `Collect` joins the texts it received with single spaces.
/// - `Update` sends its response headers at once, then echoes each message back as it arrives.
///
/// Request metadata keyed `x-echo-*` is echoed in the response headers and, as `x-trailer-*`, in the
/// trailers: the contract the grpcio interop checks rely on (Tests/Interop/README.md).
///
/// Faults (see `Faults`) apply at the start of every call, in this order: fail-first, fail-rate, then
/// hang or delay, then slow-rate and the per-concurrent-call delay. The provider counts calls per method and handler cancellations.
public final class EchoProvider: Echo_Echo.SimpleServiceProtocol {
    private struct State {
        var calls: [Method: Int] = [:]
        var inFlight = 0
        var cancellations = 0
        var cancellationWaiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
        var callWaiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    /// The faults injected.
    public let faults: Faults
    private let random: @Sendable () -> Double
    private let state = TSanMutex(State())

    /// Creates a provider.
    /// - Parameters:
    ///   - faults: the faults to inject (none by default).
    ///   - random: the random source for `faults.failRate` and `faults.slowRate`, returning values in `0..<1`.
    public init(faults: Faults = .none, random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.faults = faults
        self.random = random
    }

    /// How many calls of `method` started.
    public func callCount(_ method: Method) -> Int {
        state.withLock { $0.calls[method, default: 0] }
    }

    /// How many calls started, over all methods.
    public var totalCallCount: Int {
        state.withLock { $0.calls.values.reduce(0, +) }
    }

    /// How many handlers ended because their task was cancelled.
    public var cancellationCount: Int {
        state.withLock { $0.cancellations }
    }

    /// Returns once at least `count` handlers were cancelled.
    public func waitForCancellations(atLeast count: Int) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if s.cancellations >= count { return true }
                s.cancellationWaiters.append((count, c))
                return false
            }
            if done { c.resume() }
        }
    }

    /// Waits until at least `count` handlers were cancelled, for at most `bound`; returns whether they were.
    /// For tests that must fail, not hang, when a cancellation never comes.
    public func waitForCancellations(atLeast count: Int, within bound: Duration) async -> Bool {
        let giveUp = ContinuousClock.now + bound
        while cancellationCount < count {
            if ContinuousClock.now >= giveUp { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return true
    }

    /// Returns once at least `count` calls (over all methods) started.
    public func waitForCalls(atLeast count: Int) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if s.calls.values.reduce(0, +) >= count { return true }
                s.callWaiters.append((count, c))
                return false
            }
            if done { c.resume() }
        }
    }

    // MARK: Handlers

    public func get(request: Echo_EchoRequest, context: ServerContext) async throws -> Echo_EchoResponse {
        try await handle(.get, context) {
            // The interop contract's slow path: `sleep:<ms>` waits that long (cancellably), then echoes.
            if request.text.hasPrefix("sleep:"), let ms = Int(request.text.dropFirst("sleep:".count)), ms >= 0 {
                try await Task.sleep(for: .milliseconds(ms))
            }
            return Echo_EchoResponse.with { $0.text = request.text }
        }
    }

    public func expand(
        request: Echo_EchoRequest, response: ResponseWriter<Echo_EchoResponse>, context: ServerContext
    ) async throws {
        try await handle(.expand, context) {
            // One word at a time, not `split` into an array first: a request of a million words then costs
            // one word of memory at a time (the writer waits while the client is behind), not a million.
            var rest = request.text[...]
            while true {
                let space = rest.firstIndex(of: " ")
                let word = rest[..<(space ?? rest.endIndex)]
                try await response.write(Echo_EchoResponse.with { $0.text = String(word) })
                guard let space else { break }
                rest = rest[rest.index(after: space)...]
            }
        }
    }

    public func collect(
        requests: RequestStream<Echo_EchoRequest>, context: ServerContext
    ) async throws -> Echo_EchoResponse {
        try await handle(.collect, context) {
            var texts: [String] = []
            for try await request in requests { texts.append(request.text) }
            return Echo_EchoResponse.with { $0.text = texts.joined(separator: " ") }
        }
    }

    public func update(
        requests: RequestStream<Echo_EchoRequest>, response: ResponseWriter<Echo_EchoResponse>,
        context: ServerContext
    ) async throws {
        try await handle(.update, context) {
            // Headers now, not with the first echo: a client can await them (`try await stream.metadata`)
            // to know its call is served before it writes (breakwater-memory holds streams open so).
            try await context.sendHeaders()
            for try await request in requests {
                try await response.write(Echo_EchoResponse.with { $0.text = request.text })
            }
        }
    }

    // MARK: Faults and counters

    private func handle<Result>(
        _ method: Method, _ context: ServerContext, _ body: () async throws -> Result
    ) async throws -> Result {
        echoMetadata(context)
        let (count, callWaiters) = state.withLock { s in
            s.calls[method, default: 0] += 1
            let total = s.calls.values.reduce(0, +)
            let ready = s.callWaiters.filter { $0.count <= total }
            s.callWaiters.removeAll { $0.count <= total }
            return (s.calls[method, default: 0], ready)
        }
        for waiter in callWaiters { waiter.continuation.resume() }
        do {
            if count <= faults.failFirst {
                throw RPCError(code: .unavailable, message: "Injected failure: call \(count) of the first \(faults.failFirst)")
            }
            if faults.failRate > 0, random() < faults.failRate {
                throw RPCError(code: .unavailable, message: "Injected failure at rate \(faults.failRate)")
            }
            if faults.hang {
                while true { try await Task.sleep(for: .seconds(3600)) }
            }
            if let delay = faults.delay {
                try await Task.sleep(for: delay)
            }
            if faults.slowRate > 0, random() < faults.slowRate {
                try await Task.sleep(for: faults.slowDelay)
            }
            if faults.delayPerConcurrentCall > .zero {
                let inFlight = state.withLock { s in
                    s.inFlight += 1
                    return s.inFlight
                }
                defer { state.withLock { $0.inFlight -= 1 } }
                try await Task.sleep(for: faults.delayPerConcurrentCall * inFlight)
                return try await body()
            }
            return try await body()
        } catch {
            if Task.isCancelled { recordCancellation() }
            throw error
        }
    }

    /// The interop contract (Tests/Interop/README.md): request metadata keyed `x-echo-*` comes back in the
    /// response headers under the same key and in the trailers as `x-trailer-*`, binary values included.
    private func echoMetadata(_ context: ServerContext) {
        var headers = Metadata()
        var trailers = Metadata()
        for element in context.requestMetadata where element.key.hasPrefix("x-echo-") {
            headers.add(element.value, forKey: element.key)
            trailers.add(element.value, forKey: "x-trailer-" + element.key.dropFirst("x-echo-".count))
        }
        guard !headers.isEmpty else { return }
        context.responseHeaders.add(contentsOf: headers)
        context.responseTrailers.add(contentsOf: trailers)
    }

    private func recordCancellation() {
        let ready = state.withLock { s in
            s.cancellations += 1
            let total = s.cancellations
            let ready = s.cancellationWaiters.filter { $0.count <= total }
            s.cancellationWaiters.removeAll { $0.count <= total }
            return ready
        }
        for waiter in ready { waiter.continuation.resume() }
    }
}
