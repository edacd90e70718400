import BreakwaterCore

/// One endpoint's connection under a `LoadBalancer`: a `ClientConnectionManager` (with its connectivity
/// states, backoff and keepalive) and the balancer's bookkeeping for it. Loop thread only.
final class Subchannel: @unchecked Sendable {
    // Safety: `id`, `endpoint`, `manager` are immutable; every var is touched only on the balancer's
    // loop thread.

    /// The balancer's number for it (ejection state is keyed by it).
    let id: Int
    let endpoint: Endpoint
    let manager: ClientConnectionManager
    /// Calls picked for it that have not ended.
    var outstanding = 0
    /// Calls picked for it since it was added.
    var total = 0
    /// The connectivity state last heard from the manager.
    var state: ConnectivityState = .idle
    /// The last connect error, while in TRANSIENT_FAILURE.
    var lastError: RPCError?
    /// Left the resolution: it drains (open calls finish) and takes no new ones.
    var removed = false

    /// What its health checks say (when the balancer checks health).
    enum Health: Sendable, Equatable {
        /// Ready, the first answer not in yet: calls wait for it.
        case unknown
        case serving
        /// NOT_SERVING, SERVICE_UNKNOWN, or the watch failed: it takes no calls.
        case notServing
        /// The server has no health service (UNIMPLEMENTED): healthy, not checked again on this connection.
        case unchecked
    }
    var health: Health = .unknown
    /// The `Health/Watch` stream on its connection, while it is READY.
    var healthWatch: ClientStream?
    /// The timer that starts the watch again after it failed.
    var healthRetryTimer: UInt64?

    init(id: Int, endpoint: Endpoint, manager: ClientConnectionManager) {
        self.id = id
        self.endpoint = endpoint
        self.manager = manager
    }
}
