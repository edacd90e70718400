/// What an interceptor knows about a client call besides its messages.
public struct ClientContext: Sendable {
    /// The method called.
    public var descriptor: MethodDescriptor
    /// The kind of call.
    public var kind: CallKind
    /// When the whole call must end, on the monotonic clock; `nil` for no deadline. An interceptor may
    /// move it earlier (for example a per-attempt timeout) before calling `next`.
    public var deadline: ContinuousClock.Instant? {
        get { storedDeadline?.instant }
        set { storedDeadline = newValue.map(StoredInstant.init) }
    }
    /// `deadline` in a fixed-size form, so that the context, copied by every interceptor, has a fixed
    /// layout (see `StoredInstant`).
    /// Internal, so that the client sets it without converting (see `StoredInstant`).
    var storedDeadline: StoredInstant?
    /// The call's options, already merged with the client's defaults.
    public var options: CallOptions
    /// Who learns what happens inside the call (attempts, message sizes, retries, rejections); empty by
    /// default, when nothing is reported. Interceptors append observers; see ``ClientCallObserver``.
    public var callObservers: [any ClientCallObserver] = []
    /// Which attempt of the call this context is for; the first unless a retry or hedging interceptor
    /// made this attempt (it sets the number and the reason). Observers read it; see ``ClientAttempt``.
    public var attempt = ClientAttempt(number: 1, reason: nil)

    /// Creates a context.
    public init(
        descriptor: MethodDescriptor,
        kind: CallKind,
        deadline: ContinuousClock.Instant? = nil,
        options: CallOptions = .defaults
    ) {
        self.descriptor = descriptor
        self.kind = kind
        self.storedDeadline = deadline.map(StoredInstant.init)
        self.options = options
    }

    /// A context with a stored deadline, as the client makes every call's: the public initializer's
    /// `Optional<ContinuousClock.Instant>`, even `nil`, goes through runtime value witnesses.
    init(descriptor: MethodDescriptor, kind: CallKind, storedDeadline: StoredInstant?, options: CallOptions) {
        self.descriptor = descriptor
        self.kind = kind
        self.storedDeadline = storedDeadline
        self.options = options
    }

    /// Bounds the call by `timeout` from now, as a timeout policy does: the deadline becomes now plus
    /// `timeout` unless it is already earlier.
    /// - Returns: Whether the (bounded) deadline has already passed: an attempt started now could only
    ///   end with DEADLINE_EXCEEDED, which a breaker should not count against the server.
    @discardableResult
    public mutating func bound(byTimeout timeout: Duration) -> Bool {
        // On `StoredInstant`s: one clock read, and no `Optional<ContinuousClock.Instant>`, whose handling
        // goes through runtime value witnesses.
        let now = StoredInstant(ContinuousClock.now)
        let limit = now.advanced(by: timeout)
        let bounded = storedDeadline.map { min($0, limit) } ?? limit
        storedDeadline = bounded
        return bounded <= now
    }

    /// Tells every observer in ``callObservers`` about `event`. Build a costly event only when
    /// `callObservers` is not empty.
    @inlinable
    public func report(_ event: @autoclosure () -> ClientCallEvent) {
        guard !callObservers.isEmpty else { return }
        let event = event()
        // By index: each observer is used in place, not copied out (a retain and a release) as a
        // `for ... in` over the array does.
        for index in callObservers.indices { callObservers[index].observe(event, context: self) }
    }
}
