/// A call's context kept by the parts of the transport end of the chain that report to its observers
/// (the request sender, the response stream): made only when the context has observers, so a call
/// without them carries one nil reference and builds nothing.
final class CallObservation: Sendable {
    let context: ClientContext

    init?(_ context: ClientContext) {
        guard !context.callObservers.isEmpty else { return nil }
        self.context = context
    }

    func report(_ event: ClientCallEvent) {
        context.report(event)
    }
}
