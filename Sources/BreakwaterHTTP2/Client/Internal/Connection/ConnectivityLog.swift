import Logging

/// How a client transport logs its connectivity changes: CONNECTING, READY and TRANSIENT_FAILURE at
/// info (with the error that caused a failure), IDLE and SHUTDOWN at debug; the target on every line.
enum ConnectivityLog {
    static func log(_ change: ConnectivityStateChange, target: String, to logger: Logger) {
        var metadata: Logger.Metadata = ["target": "\(target)", "from": "\(change.from)", "to": "\(change.to)"]
        if let error = change.error { metadata["error"] = "\(error)" }
        switch change.to {
        case .connecting, .ready, .transientFailure:
            logger.info("connectivity changed", metadata: metadata)
        case .idle, .shutdown:
            logger.debug("connectivity changed", metadata: metadata)
        }
    }
}
