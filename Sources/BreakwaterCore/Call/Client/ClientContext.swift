/// What an interceptor knows about a client call besides its messages.
public struct ClientContext: Sendable {
    /// The method called.
    public var descriptor: MethodDescriptor
    /// The kind of call.
    public var kind: CallKind
    /// When the whole call must end, on the monotonic clock; `nil` for no deadline. An interceptor may
    /// move it earlier (for example a per-attempt timeout) before calling `next`.
    public var deadline: ContinuousClock.Instant?
    /// The call's options, already merged with the client's defaults.
    public var options: CallOptions

    /// Creates a context.
    public init(
        descriptor: MethodDescriptor,
        kind: CallKind,
        deadline: ContinuousClock.Instant? = nil,
        options: CallOptions = .defaults
    ) {
        self.descriptor = descriptor
        self.kind = kind
        self.deadline = deadline
        self.options = options
    }
}
