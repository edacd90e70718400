@_spi(Locking) import BreakwaterCore

/// The several-endpoint side of `HTTP2ClientTransport`, on one event loop: follows the target's resolver,
/// keeps one `Subchannel` (a `ClientConnectionManager`) per endpoint, and routes each stream to the
/// subchannel its `Picker` chooses among those ready and not ejected by its `OutlierDetector`. Streams
/// wait here while nothing is usable yet and something is connecting; when every endpoint is failing they
/// fail fast with the endpoints' errors (UNAVAILABLE), which the method breaker above sees as failures.
final class LoadBalancer: ClientStreamRouter, @unchecked Sendable {
    // Safety: the `let`s are immutable (`observed` is a lock); every `var` is touched only on `loop`'s
    // thread.

    let loop: EventLoop
    let target: ClientTarget
    let config: LoadBalancingConfig
    /// Each subchannel's configuration: the transport's, with the target's authority and TLS name.
    let subchannelConfiguration: HTTP2ClientTransport.Configuration

    private(set) var subchannels: [Subchannel] = []
    private var draining: [Subchannel] = []
    private var nextID = 0
    private var picker: Picker
    private var detector: OutlierDetector?
    private var random = SystemRandomNumberGenerator()
    private var waiting: [ClientStream] = []
    private var started = false
    /// A first resolution arrived (with endpoints or an error).
    private var resolved = false
    private var resolutionError: RPCError?
    private var resolverTask: Task<Void, Never>?
    private var intervalTimer: UInt64?
    private var returnTimer: (id: UInt64, at: ContinuousClock.Instant)?
    private(set) var closed = false
    private var refreshing = false
    private var refreshAgain = false
    private var published: ConnectivityState = .idle
    let observed = Observed()

    /// The aggregate state and the subscribers to its changes and to endpoint events, from any thread.
    final class Observed: Sendable {
        struct State {
            var state: ConnectivityState = .idle
            var changes = EventSubscribers<ConnectivityStateChange>()
            var events = EventSubscribers<EndpointEvent>()
        }
        let lock = TSanMutex(State())
    }

    init(loop: EventLoop, target: ClientTarget, config: LoadBalancingConfig, configuration: HTTP2ClientTransport.Configuration) {
        self.loop = loop
        self.target = target
        self.config = config
        var sub = configuration
        sub.authority = configuration.authority ?? target.authority
        if var tls = sub.tls, tls.serverHostname == nil, let name = target.tlsHostname {
            tls.serverHostname = name
            sub.tls = tls
        }
        subchannelConfiguration = sub
        picker = Picker(policy: config.policy)
        detector = config.outlierDetection.map(OutlierDetector.init(policy:))
    }

    // MARK: Streams

    func open(_ stream: ClientStream) {
        if !started { start() }
        if let index = picker.pick(outstanding: { subchannels[$0].outstanding }, random: &random) {
            route(stream, to: subchannels[index])
            return
        }
        if let failure = failure {
            // Every endpoint is failing. A probe goes to one of them, which connects for it at once;
            // a call that waits for ready waits; any other fails fast.
            if stream.head.isProbe, !subchannels.isEmpty {
                route(stream, to: subchannels[Int.random(in: 0..<subchannels.count, using: &random)])
                return
            }
            if !stream.head.waitForReady {
                stream.fail(failure, connectionNeverEstablished: true)
                return
            }
        }
        waiting.append(stream)
        refresh()  // connects what the policy wants connected
    }

    private func route(_ stream: ClientStream, to subchannel: Subchannel) {
        subchannel.outstanding += 1
        subchannel.total += 1
        stream.subchannel = subchannel
        subchannel.manager.open(stream)
    }

    func streamEnded(_ stream: ClientStream, status: Status) {
        guard let subchannel = stream.subchannel else {
            if !waiting.isEmpty { waiting.removeAll { $0 === stream } }
            return
        }
        stream.subchannel = nil
        subchannel.outstanding -= 1
        subchannel.manager.streamEnded(stream, status: status)
        guard !subchannel.removed, detector != nil else { return }
        if let event = detector?.record(subchannel.id, code: status.code, now: .now) { apply([event]) }
    }

    // MARK: Resolution

    private func start() {
        started = true
        // Strong: removed at close (a weak capture would slow every retain of the balancer).
        loop.onStop(self) { [self] in close() }
        let resolver = target.resolver
        let loop = self.loop
        resolverTask = Task { [self] in
            await Self.follow(resolver, loop: loop, balancer: self)
        }
        if let policy = config.outlierDetection { armInterval(policy.interval) }
    }

    private static func follow(_ resolver: some NameResolver, loop: EventLoop, balancer: LoadBalancer) async {
        do {
            for try await resolution in resolver.resolutions() {
                loop.execute { balancer.update(resolution) }
            }
        } catch {
            let failed = NameResolution(error: RPCError(code: .unavailable, message: "resolver of \(balancer.target) failed: \(error)"))
            loop.execute { balancer.update(failed) }
        }
    }

    /// A new resolution: endpoints still there keep their subchannel (and its calls), new ones get one,
    /// the ones gone drain.
    func update(_ resolution: NameResolution) {
        guard !closed else { return }
        resolved = true
        if resolution.endpoints.isEmpty {
            resolutionError =
                resolution.error ?? RPCError(code: .unavailable, message: "the resolver of \(target) answered no endpoints")
            if resolution.error != nil, !subchannels.isEmpty {
                refresh()  // a failed lookup keeps the endpoints there are
                return
            }
        } else {
            resolutionError = nil
        }
        var existing: [Endpoint: Subchannel] = [:]
        for subchannel in subchannels { existing[subchannel.endpoint] = subchannel }
        var next: [Subchannel] = []
        var added: [Subchannel] = []
        for endpoint in resolution.endpoints {
            if let subchannel = existing.removeValue(forKey: endpoint) {
                next.append(subchannel)
            } else if !next.contains(where: { $0.endpoint == endpoint }) {
                let subchannel = makeSubchannel(endpoint)
                next.append(subchannel)
                added.append(subchannel)
            }
        }
        draining.removeAll { $0.outstanding == 0 }
        for subchannel in subchannels where existing[subchannel.endpoint] === subchannel {
            subchannel.removed = true
            stopHealthWatch(subchannel)  // its stream would keep the draining connection open
            subchannel.manager.onStateChange = nil
            detector?.remove(subchannel.id)
            subchannel.manager.close(nil)
            draining.append(subchannel)
            emit(EndpointEvent(endpoint: subchannel.endpoint, kind: .removed))
        }
        subchannels = next
        for subchannel in added { emit(EndpointEvent(endpoint: subchannel.endpoint, kind: .added)) }
        refresh()
    }

    private func makeSubchannel(_ endpoint: Endpoint) -> Subchannel {
        let (host, port) = endpoint.managerHostPort
        let manager = ClientConnectionManager(
            loop: loop, host: host, port: port, address: endpoint.socketAddress, configuration: subchannelConfiguration)
        let subchannel = Subchannel(id: nextID, endpoint: endpoint, manager: manager)
        nextID += 1
        // Strong both ways until the subchannel leaves (update) or the balancer closes: then cleared.
        manager.onStateChange = { [self, subchannel] change in subchannelChanged(subchannel, change) }
        detector?.add(subchannel.id)
        return subchannel
    }

    private func subchannelChanged(_ subchannel: Subchannel, _ change: ConnectivityStateChange) {
        subchannel.state = change.to
        subchannel.lastError = change.error
        emit(EndpointEvent(endpoint: subchannel.endpoint, kind: .connectivity(change)))
        if change.to == .ready {
            startHealthWatch(subchannel)
        } else {
            stopHealthWatch(subchannel)
        }
        guard !subchannel.removed, !closed else { return }
        if change.to == .transientFailure || (change.from == .ready && change.to == .idle) {
            target.resolver.requestResolution()
        }
        refresh()
    }

    // MARK: Picking

    /// Rebuilds the picker's usable list, connects what the policy wants connected, starts or fails the
    /// waiting streams and publishes the aggregate state. Runs again (not nested) when a connect it
    /// starts changes a state at once.
    func refresh() {
        if refreshing {
            refreshAgain = true
            return
        }
        refreshing = true
        repeat {
            refreshAgain = false
            var usable: [Int] = []
            for (index, subchannel) in subchannels.enumerated()
            where subchannel.state == .ready && isHealthy(subchannel) && !(detector?.isEjected(subchannel.id) ?? false) {
                usable.append(index)
            }
            picker.update(usable: usable)
            connectWanted()
        } while refreshAgain
        refreshing = false
        flushWaiting()
        publish()
    }

    /// pick_first: the first endpoint not failing connects, when none is usable; the others: all connect.
    private func connectWanted() {
        guard started, !closed else { return }
        switch config.policy {
        case .pickFirst:
            guard picker.usable.isEmpty else { return }
            for subchannel in subchannels {
                switch subchannel.state {
                case .idle:
                    subchannel.manager.connectIfIdle()
                    return
                case .connecting:
                    return  // wait for it
                case .ready:
                    // Ready but ejected: the next one connects meanwhile.
                    if detector?.isEjected(subchannel.id) == true { continue }
                    return
                case .transientFailure, .shutdown:
                    continue  // it reconnects by itself after its backoff
                }
            }
        case .roundRobin, .leastRequest:
            for subchannel in subchannels where subchannel.state == .idle {
                subchannel.manager.connectIfIdle()
            }
        }
    }

    /// Why a stream cannot be served now, or nil when it should wait (something is connecting).
    private var failure: Status? {
        if closed { return Status(code: .unavailable, message: "transport closed: \(target)") }
        guard picker.usable.isEmpty else { return nil }
        guard resolved else { return nil }
        if subchannels.isEmpty {
            return (resolutionError ?? RPCError(code: .unavailable, message: "no endpoints for \(target)")).status
        }
        if subchannels.contains(where: { $0.state == .connecting || $0.state == .idle }) { return nil }
        // Ready, its first health answer not in yet: wait for it.
        if checksHealth, subchannels.contains(where: { $0.state == .ready && $0.health == .unknown }) { return nil }
        let failing = subchannels.filter { $0.state == .transientFailure }
        if failing.count == subchannels.count, let first = failing.first {
            let reason = first.lastError?.message ?? "connection failed"
            let more = failing.count > 1 ? " (and \(failing.count - 1) more endpoint\(failing.count > 2 ? "s" : "") failing)" : ""
            return Status(code: .unavailable, message: "\(reason)\(more)")
        }
        return Status(code: .unavailable, message: "every endpoint of \(target) is ejected or failing")
    }

    private func flushWaiting() {
        guard !waiting.isEmpty else { return }
        if !picker.usable.isEmpty {
            let streams = waiting
            waiting.removeAll()
            for stream in streams where !stream.isEnded {
                if let index = picker.pick(outstanding: { subchannels[$0].outstanding }, random: &random) {
                    route(stream, to: subchannels[index])
                }
            }
        } else if let failure {
            // Streams that wait for ready stay until an endpoint is usable (or their deadline).
            let streams = waiting
            waiting.removeAll()
            for stream in streams {
                if stream.head.waitForReady { waiting.append(stream) } else { stream.fail(failure, connectionNeverEstablished: true) }
            }
        }
    }

    // MARK: Ejection

    private func apply(_ events: [OutlierDetector.Event]) {
        guard !events.isEmpty else { return }
        let byID = Dictionary(uniqueKeysWithValues: subchannels.map { ($0.id, $0) })
        for event in events {
            guard let subchannel = byID[event.id] else { continue }
            switch event {
            case .ejected(_, let until, let reason):
                emit(EndpointEvent(endpoint: subchannel.endpoint, kind: .ejected(until: until, reason: reason)))
            case .returned:
                emit(EndpointEvent(endpoint: subchannel.endpoint, kind: .returned))
            }
        }
        armReturn()
        refresh()
    }

    private func armInterval(_ interval: Duration) {
        // Strong: cancelled at close.
        intervalTimer = loop.scheduleTimer(at: .now + interval) { [self] in
            intervalTimer = nil
            guard !closed else { return }
            if let events = detector?.intervalElapsed(now: .now, random: &random) { apply(events) }
            armInterval(interval)
        }
    }

    /// A timer at the earliest return, so an ejected endpoint comes back on time, not at the next interval.
    private func armReturn() {
        guard let at = detector?.nextReturn else { return }
        if let returnTimer {
            if returnTimer.at <= at { return }
            loop.cancelTimer(returnTimer.id)
        }
        // Strong: cancelled at close.
        let id = loop.scheduleTimer(at: at) { [self] in
            returnTimer = nil
            guard !closed else { return }
            if let events = detector?.returnsDue(now: .now) { apply(events) }
            armReturn()
        }
        returnTimer = (id, at)
    }

    // MARK: Visibility

    var snapshots: [EndpointSnapshot] {
        subchannels.map { subchannel in
            let stats = detector?.stats[subchannel.id]
            return EndpointSnapshot(
                endpoint: subchannel.endpoint, connectivity: subchannel.state, ejectedUntil: stats?.ejectedUntil,
                recentEjections: stats?.ejections ?? 0, outstandingCalls: subchannel.outstanding,
                totalCalls: subchannel.total, recentFailureRate: stats?.recentFailureRate,
                serving: checksHealth ? (subchannel.health == .serving || subchannel.health == .unchecked) : nil)
        }
    }

    var connectivityState: ConnectivityState { observed.lock.withLock { $0.state } }

    /// The aggregate state's changes from now on, from any thread.
    func connectivityStateChanges(bufferingNewest limit: Int) -> AsyncStream<ConnectivityStateChange> {
        EventSubscribers.stream(bufferingNewest: limit) { [observed] body in
            observed.lock.withLock { body(&$0.changes) }
        }
    }

    /// The endpoint events from now on, from any thread.
    func endpointEvents(bufferingNewest limit: Int) -> AsyncStream<EndpointEvent> {
        EventSubscribers.stream(bufferingNewest: limit) { [observed] body in
            observed.lock.withLock { body(&$0.events) }
        }
    }

    private var aggregate: ConnectivityState {
        if closed { return .shutdown }
        if !picker.usable.isEmpty { return .ready }
        if !started { return .idle }
        return failure == nil ? .connecting : .transientFailure
    }

    private func publish() {
        let state = aggregate
        guard state != published else { return }
        let error: RPCError? = state == .transientFailure ? failure.map { RPCError(status: $0) } : nil
        let change = ConnectivityStateChange(from: published, to: state, error: error)
        published = state
        let finished = observed.lock.withLock { o -> [AsyncStream<ConnectivityStateChange>.Continuation] in
            o.state = state
            o.changes.yield(change)
            return state == .shutdown ? o.changes.takeAll() : []
        }
        for continuation in finished { continuation.finish() }
    }

    func emit(_ event: EndpointEvent) {
        EndpointEventLog.report(event, target: "\(target)", configuration: subchannelConfiguration)
        observed.lock.withLock { $0.events.yield(event) }
    }

    // MARK: Close

    /// Stops resolving and picking, fails the waiting streams, and closes every subchannel gracefully
    /// (their calls finish). Returns the managers, so that the caller can wait for them.
    @discardableResult
    func close() -> [ClientConnectionManager] {
        let all = subchannels + draining
        guard !closed else { return all.map(\.manager) }
        closed = true
        if started { loop.removeOnStop(self) }
        resolverTask?.cancel()
        resolverTask = nil
        if let intervalTimer { loop.cancelTimer(intervalTimer) }
        intervalTimer = nil
        if let returnTimer { loop.cancelTimer(returnTimer.id) }
        returnTimer = nil
        let streams = waiting
        waiting.removeAll()
        for stream in streams {
            stream.fail(Status(code: .unavailable, message: "transport closed: \(target)"), neverReachedServer: true)
        }
        for subchannel in all {
            stopHealthWatch(subchannel)
            subchannel.manager.onStateChange = nil
            subchannel.manager.close(nil)
        }
        publish()
        let finished = observed.lock.withLock { $0.events.takeAll() }
        for continuation in finished { continuation.finish() }
        return all.map(\.manager)
    }
}
