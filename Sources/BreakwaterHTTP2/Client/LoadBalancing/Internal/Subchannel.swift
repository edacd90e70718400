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

    init(id: Int, endpoint: Endpoint, manager: ClientConnectionManager) {
        self.id = id
        self.endpoint = endpoint
        self.manager = manager
    }
}
