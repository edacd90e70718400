import BreakwaterCore

/// Client-side health checks (gRFC A17): with a `healthCheckServiceName` and a policy other than
/// pick_first, each READY subchannel watches `grpc.health.v1.Health/Watch` on its own connection and takes
/// calls only while the answer is SERVING. Loop thread only, like the balancer.
extension LoadBalancer {
    /// Whether health checks decide which endpoints take calls: a `healthCheckServiceName`, and a policy
    /// other than pick_first (which, as in gRPC, does not check).
    var checksHealth: Bool {
        config.healthCheckServiceName != nil && config.policy != .pickFirst
    }

    func isHealthy(_ subchannel: Subchannel) -> Bool {
        guard checksHealth else { return true }
        return subchannel.health == .serving || subchannel.health == .unchecked
    }

    /// A READY subchannel watches `grpc.health.v1.Health/Watch` on its connection (gRFC A17): it takes
    /// calls only while the answer is SERVING.
    func startHealthWatch(_ subchannel: Subchannel) {
        guard checksHealth, let service = config.healthCheckServiceName, !subchannel.removed, !closed,
            subchannel.healthWatch == nil
        else { return }
        if subchannel.health == .unchecked { return }
        subchannel.health = .unknown
        let stream = ClientStream(
            head: ClientRequestHead(method: HealthWire.watch, maxReceiveMessageBytes: 64 * 1024), loop: loop,
            router: subchannel.manager, receiveBufferBytes: 64 * 1024)
        subchannel.healthWatch = stream
        let request = HealthWire.request(service: service)
        let loop = self.loop
        // Strong: the watch ends (cancelled) when the subchannel leaves READY or the balancer closes.
        Task { [self, subchannel] in
            try? await stream.send(request, endStream: true)
            while let event = await stream.next() {
                switch event {
                case .headers:
                    continue
                case .message(let bytes):
                    let health: Subchannel.Health = HealthWire.status(bytes) == HealthWire.serving ? .serving : .notServing
                    loop.execute { self.healthAnswered(subchannel, stream, health) }
                case .end(let end):
                    loop.execute { self.healthWatchEnded(subchannel, stream, end.status) }
                }
            }
        }
    }

    func stopHealthWatch(_ subchannel: Subchannel) {
        if let timer = subchannel.healthRetryTimer { loop.cancelTimer(timer) }
        subchannel.healthRetryTimer = nil
        subchannel.healthWatch?.cancel()
        subchannel.healthWatch = nil
        if subchannel.health != .unchecked { subchannel.health = .unknown }
    }

    private func healthAnswered(_ subchannel: Subchannel, _ stream: ClientStream, _ health: Subchannel.Health) {
        guard subchannel.healthWatch === stream, subchannel.health != health else { return }
        subchannel.health = health
        emit(EndpointEvent(endpoint: subchannel.endpoint, kind: .health(serving: health == .serving)))
        refresh()
    }

    /// The watch ended: a server without the health service is healthy (and not asked again on this
    /// connection); any other end makes the endpoint unhealthy until a new watch, a second later, says
    /// otherwise.
    private func healthWatchEnded(_ subchannel: Subchannel, _ stream: ClientStream, _ status: Status) {
        guard subchannel.healthWatch === stream else { return }
        subchannel.healthWatch = nil
        if status.code == .unimplemented {
            subchannel.health = .unchecked
        } else {
            if subchannel.health != .notServing {
                subchannel.health = .notServing
                emit(EndpointEvent(endpoint: subchannel.endpoint, kind: .health(serving: false)))
            }
            if subchannel.state == .ready, !subchannel.removed, !closed {
                // Strong: cancelled when the subchannel leaves READY or the balancer closes.
                subchannel.healthRetryTimer = loop.scheduleTimer(at: .now + .seconds(1)) { [self, subchannel] in
                    subchannel.healthRetryTimer = nil
                    if subchannel.state == .ready { startHealthWatch(subchannel) }
                }
            }
        }
        refresh()
    }

}
