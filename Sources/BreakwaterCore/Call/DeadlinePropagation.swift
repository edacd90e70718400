/// Whether a call made while serving another call takes over that call's deadline.
///
/// A handler that calls other services on behalf of its caller should give up when its caller does:
/// with propagation (the default, as gRPC's Java, Go and C++ clients do it through their contexts), a
/// call started inside a server handler gets the earlier of its own deadline and the handler's,
/// shortened by `margin` so that the handler keeps time to answer. Cancelling the handler (its client
/// went away, its deadline passed) cancels such calls too, since they run in the handler's task.
///
/// ```swift
/// // In a handler: at most the caller's remaining time, less 50 ms to answer it.
/// let options = CallOptions(deadlinePropagation: .inherit(margin: .milliseconds(50)))
/// let user = try await users.get(request, options: options)
/// ```
public struct DeadlinePropagation: Sendable, Hashable {
    /// Whether the serving call's deadline applies.
    public var isEnabled: Bool
    /// How much earlier than the serving call's deadline this call must end.
    public var margin: Duration

    /// Inherit the serving call's deadline, `margin` earlier.
    public static func inherit(margin: Duration = .zero) -> DeadlinePropagation {
        DeadlinePropagation(isEnabled: true, margin: max(margin, .zero))
    }

    /// Inherit the serving call's deadline as it is (the default).
    public static let inherit = DeadlinePropagation.inherit()

    /// Ignore the serving call's deadline: the call has only its own.
    public static let off = DeadlinePropagation(isEnabled: false, margin: .zero)

    /// The deadline of a call that would have `own` (nil: none), started while serving a call whose
    /// deadline is `serving`.
    public func deadline(own: ContinuousClock.Instant?, serving: ContinuousClock.Instant?) -> ContinuousClock.Instant? {
        guard isEnabled, let serving else { return own }
        let inherited = serving.advanced(by: .zero - margin)
        return own.map { min($0, inherited) } ?? inherited
    }

    /// The same on stored instants, as the client computes every call's deadline: no conversion to and
    /// from `ContinuousClock.Instant`, whose optional is handled through runtime witnesses.
    func storedDeadline(own: StoredInstant?, serving: StoredInstant?) -> StoredInstant? {
        guard isEnabled, let serving else { return own }
        let inherited = serving.advanced(by: .zero - margin)
        return own.map { min($0, inherited) } ?? inherited
    }
}

/// What the server sets while it runs a handler, for the calls that handler makes.
enum ServingCall {
    /// The deadline of the call being served by the current task; nil outside handlers, or for a call
    /// without a deadline.
    /// Stored as a `StoredInstant`, fixed-size, as every call the handler makes reads it.
    @TaskLocal static var deadline: StoredInstant?
}
