import CoreMetrics
import Logging

/// How a load-balanced transport reports what happens to its endpoints, with the target and endpoint on
/// every line and metric: ejections, returns and health answers at info, additions and removals at
/// debug (connectivity changes are `ConnectivityLog`'s); ejections and returns counted, and each health
/// answer, when the configuration has a metrics factory. Rare events, so the handles are made per event.
enum EndpointEventLog {
    static func report(_ event: EndpointEvent, target: String, configuration: HTTP2ClientTransport.Configuration) {
        var metadata: Logger.Metadata = ["target": "\(target)", "endpoint": "\(event.endpoint)"]
        let counted: (label: String, extra: [(String, String)])?
        switch event.kind {
        case .added:
            configuration.logger.debug("endpoint added", metadata: metadata)
            counted = nil
        case .removed:
            configuration.logger.debug("endpoint removed", metadata: metadata)
            counted = nil
        case .connectivity:
            counted = nil  // ConnectivityLog reports it, from the subchannel
        case .ejected(let until, let reason):
            metadata["reason"] = "\(reason)"
            metadata["for"] = "\(ContinuousClock.now.duration(to: until))"
            configuration.logger.info("endpoint ejected", metadata: metadata)
            counted = ("breakwater.client.endpoint.ejections", [])
        case .returned:
            configuration.logger.info("endpoint returned", metadata: metadata)
            counted = ("breakwater.client.endpoint.returns", [])
        case .health(let serving):
            metadata["serving"] = "\(serving)"
            configuration.logger.info("endpoint health", metadata: metadata)
            counted = ("breakwater.client.endpoint.health_changes", [("serving", "\(serving)")])
        }
        guard let counted, let factory = configuration.metricsFactory else { return }
        Counter(
            label: counted.label, dimensions: [("target", target), ("endpoint", "\(event.endpoint)")] + counted.extra,
            factory: factory
        ).increment()
    }
}
