import CoreMetrics
import Logging

/// How a client transport reports its connectivity changes, with the target on every line and metric:
/// CONNECTING, READY and TRANSIENT_FAILURE logged at info (with the error that caused a failure), IDLE
/// and SHUTDOWN at debug; each change counted, and READY connections metered, when the configuration has
/// a metrics factory. Changes are rare (not per call), so the handles are made per change.
enum ConnectivityLog {
    static func report(_ change: ConnectivityStateChange, target: String, configuration: HTTP2ClientTransport.Configuration) {
        var metadata: Logger.Metadata = ["target": "\(target)", "from": "\(change.from)", "to": "\(change.to)"]
        if let error = change.error { metadata["error"] = "\(error)" }
        switch change.to {
        case .connecting, .ready, .transientFailure:
            configuration.logger.info("connectivity changed", metadata: metadata)
        case .idle, .shutdown:
            configuration.logger.debug("connectivity changed", metadata: metadata)
        }
        guard let factory = configuration.metricsFactory else { return }
        Counter(
            label: "breakwater.client.connectivity.transitions",
            dimensions: [("target", target), ("from", "\(change.from)"), ("to", "\(change.to)")], factory: factory
        ).increment()
        if change.to == .ready || change.from == .ready {
            let ready = Meter(label: "breakwater.client.connections.ready", dimensions: [("target", target)], factory: factory)
            if change.to == .ready { ready.increment() } else { ready.decrement() }
        }
    }
}
