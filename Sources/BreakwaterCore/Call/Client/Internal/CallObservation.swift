/// A call's context kept by the parts of the transport end of the chain that report to its observers
/// (the request sender, the response stream) for one network attempt, with the observers of that
/// attempt's end: made only when the context has observers, so a call without them carries one nil
/// reference and builds nothing.
final class CallObservation: ClientResponseObserver {
    let context: ClientContext
    /// Told how the attempt ended: what the call's observers returned from `attemptStarting`.
    private let attemptObservers: [any ClientResponseObserver]

    private init(context: ClientContext, attemptObservers: [any ClientResponseObserver]) {
        self.context = context
        self.attemptObservers = attemptObservers
    }

    /// Tells every observer of `context` that an attempt starts, letting each add to its `metadata`;
    /// `nil` when the context has none.
    static func attemptStarting(_ context: ClientContext, metadata: inout Metadata) -> CallObservation? {
        guard !context.callObservers.isEmpty else { return nil }
        var attemptObservers: [any ClientResponseObserver] = []
        for observer in context.callObservers {
            if let attempt = observer.attemptStarting(context: context, metadata: &metadata) {
                attemptObservers.append(attempt)
            }
        }
        return CallObservation(context: context, attemptObservers: attemptObservers)
    }

    func report(_ event: ClientCallEvent) {
        context.report(event)
    }

    /// Whether anything wants to learn how the attempt ends.
    var watchesEnd: Bool { !attemptObservers.isEmpty }

    /// Tells the attempt's observers how it ended; called once per attempt, by the transport end of the
    /// chain or by the attempt's response stream.
    func responseEnded(_ end: ClientResponseEnd) {
        for observer in attemptObservers { observer.responseEnded(end) }
    }
}
