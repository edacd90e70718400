/// What ``ClientTransportStream/nextIfReady()`` found.
public enum ClientStreamPoll: Sendable {
    /// The event `next()` would have returned at once (`nil`: the stream had already yielded its end).
    case ready(ClientStreamEvent?)
    /// Nothing yet: `next()` would wait.
    case notReady
}
