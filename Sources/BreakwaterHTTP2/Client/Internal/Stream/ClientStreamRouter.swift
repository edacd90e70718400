import BreakwaterCore

/// Where a `ClientStream` goes when its first command reaches the loop, and who hears that it ended:
/// a `ClientConnectionManager` (one target) or a `LoadBalancer` (which picks a subchannel, each a
/// manager). Loop thread only.
protocol ClientStreamRouter: AnyObject, Sendable {
    /// Starts the stream, queues it until a connection is ready, or fails it.
    func open(_ stream: ClientStream)
    /// The stream ended with `status` (its caller may not have seen the end yet).
    func streamEnded(_ stream: ClientStream, status: Status)
}
