import BreakwaterCore

/// One answer of a ``NameResolver``: the endpoints a target stands for now.
public struct NameResolution: Sendable {
    /// The endpoints, in order of preference (pick_first uses the first one that is ready).
    public var endpoints: [Endpoint]
    /// Why the resolution failed, when it did. A balancer that already has endpoints keeps them; one
    /// without any fails its calls with this error (UNAVAILABLE).
    public var error: RPCError?

    /// A list of endpoints.
    public init(endpoints: [Endpoint]) {
        self.endpoints = endpoints
        self.error = nil
    }

    /// A failed resolution.
    public init(error: RPCError) {
        self.endpoints = []
        self.error = error
    }
}

/// Where a client's endpoints come from: an asynchronous sequence of endpoint lists, each replacing the
/// one before. Plug in a service registry by conforming to it and passing it as
/// ``ClientTarget/resolver(_:authority:description:)``.
///
/// The transport iterates ``resolutions()`` once, from a task of its own, until the transport closes
/// (then the task is cancelled). Endpoints that appear in a new list get a connection; endpoints that
/// disappear are drained: their calls in flight finish, new calls go elsewhere. When a connection fails,
/// the transport calls ``requestResolution()``: a resolver that can look again (DNS) should, no more often
/// than it sees fit.
public protocol NameResolver: Sendable {
    /// The sequence of resolutions.
    associatedtype Resolutions: AsyncSequence, Sendable where Resolutions.Element == NameResolution

    /// Starts resolving. Called once per transport.
    func resolutions() -> Resolutions

    /// A connection to one of the endpoints failed or was lost: the list may be stale. Called on an
    /// event loop: must not block. The default does nothing.
    func requestResolution()
}

extension NameResolver {
    /// Does nothing.
    public func requestResolution() {}
}

/// A fixed list of endpoints (`ipv4:`, `ipv6:`, `unix:` targets): one resolution, never another.
public struct StaticResolver: NameResolver {
    /// The endpoints.
    public let endpoints: [Endpoint]

    /// A resolver that always answers `endpoints`.
    public init(endpoints: [Endpoint]) {
        self.endpoints = endpoints
    }

    /// One resolution; the sequence then stays open (ending it would mean "no more answers", not "no
    /// endpoints").
    public func resolutions() -> AsyncStream<NameResolution> {
        let (stream, continuation) = AsyncStream<NameResolution>.makeStream()
        continuation.yield(NameResolution(endpoints: endpoints))
        return stream
    }
}
