import CoreMetrics

/// The server transport's connection counts, when its configuration has a metrics factory.
struct ServerConnectionMetrics: Sendable {
    let open: Meter
    let accepted: Counter
    let refusedOverLimit: Counter
    let refusedShuttingDown: Counter

    init?(factory: (any MetricsFactory)?) {
        guard let factory else { return nil }
        open = Meter(label: "breakwater.server.connections", factory: factory)
        accepted = Counter(label: "breakwater.server.connections.accepted", factory: factory)
        refusedOverLimit = Counter(
            label: "breakwater.server.connections.refused", dimensions: [("reason", "too_many_connections")], factory: factory)
        refusedShuttingDown = Counter(
            label: "breakwater.server.connections.refused", dimensions: [("reason", "shutting_down")], factory: factory)
    }
}
