@_spi(Locking) import BreakwaterCore

/// The serving status of a service, as gRPC's health protocol (`grpc.health.v1`) reports it.
public enum HealthStatus: Sendable, Hashable, CustomStringConvertible {
    /// The status is not known (also what a peer sends that this version does not know).
    case unknown
    /// The service is serving.
    case serving
    /// The service is not serving.
    case notServing
    /// The server knows no such service (sent by Watch only; Check fails with NOT_FOUND instead).
    case serviceUnknown

    init(_ proto: Grpc_Health_V1_HealthCheckResponse.ServingStatus) {
        switch proto {
        case .serving: self = .serving
        case .notServing: self = .notServing
        case .serviceUnknown: self = .serviceUnknown
        case .unknown, .UNRECOGNIZED: self = .unknown
        }
    }

    var proto: Grpc_Health_V1_HealthCheckResponse.ServingStatus {
        switch self {
        case .unknown: .unknown
        case .serving: .serving
        case .notServing: .notServing
        case .serviceUnknown: .serviceUnknown
        }
    }

    public var description: String {
        switch self {
        case .unknown: "UNKNOWN"
        case .serving: "SERVING"
        case .notServing: "NOT_SERVING"
        case .serviceUnknown: "SERVICE_UNKNOWN"
        }
    }
}

/// gRPC's health service (`grpc.health.v1.Health`): the application sets a serving status per service
/// name, and clients ask for it (`Check`) or follow its changes (`Watch`).
///
/// The empty service name stands for the server as a whole. A service without a status is unknown:
/// `Check` ends with NOT_FOUND, `Watch` sends SERVICE_UNKNOWN and waits for it to become known.
///
/// ```swift
/// let health = HealthService()
/// health.setStatus(.serving, forService: Echo_Echo.serviceName)
/// let server = GRPCServer(transport: transport, services: [EchoProvider(), health])
/// ```
public final class HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
    private struct Watcher {
        var service: String
        var continuation: AsyncStream<HealthStatus>.Continuation
    }

    private struct State {
        var statuses: [String: HealthStatus]
        var watchers: [Int: Watcher] = [:]
        var nextWatcher = 0
        var shutDown = false
    }

    private let state: TSanMutex<State>

    /// Creates a health service.
    /// - Parameter statuses: The initial status per service name; by default the server as a whole
    ///   (the empty name) is serving.
    public init(statuses: [String: HealthStatus] = ["": .serving]) {
        state = TSanMutex(State(statuses: statuses))
    }

    /// Sets the status of `service` (the empty name: the whole server) and tells its watchers. Ignored
    /// after `enterShutdown()`.
    public func setStatus(_ status: HealthStatus, forService service: String) {
        state.withLock { s in
            guard !s.shutDown else { return }
            s.statuses[service] = status
            for watcher in s.watchers.values where watcher.service == service {
                watcher.continuation.yield(status)
            }
        }
    }

    /// Forgets the status of `service`: `Check` then ends with NOT_FOUND and watchers get SERVICE_UNKNOWN.
    public func removeStatus(forService service: String) {
        state.withLock { s in
            guard !s.shutDown, s.statuses.removeValue(forKey: service) != nil else { return }
            for watcher in s.watchers.values where watcher.service == service {
                watcher.continuation.yield(.serviceUnknown)
            }
        }
    }

    /// The status of `service`, or `nil` when it has none.
    public func status(forService service: String) -> HealthStatus? {
        state.withLock { $0.statuses[service] }
    }

    /// How many `Watch` calls are open.
    public var watcherCount: Int {
        state.withLock { $0.watchers.count }
    }

    /// How many `Watch` calls follow `service`.
    public func watcherCount(forService service: String) -> Int {
        state.withLock { $0.watchers.values.filter { $0.service == service }.count }
    }

    /// Marks every service NOT_SERVING, tells the watchers and ends their calls (so that a graceful
    /// shutdown need not wait for them); later status changes are ignored. Call it when the server
    /// starts to shut down.
    public func enterShutdown() {
        let watchers = state.withLock { s in
            s.shutDown = true
            for service in s.statuses.keys { s.statuses[service] = .notServing }
            let watchers = Array(s.watchers.values)
            s.watchers = [:]
            return watchers
        }
        for watcher in watchers {
            watcher.continuation.yield(.notServing)
            watcher.continuation.finish()
        }
    }

    // MARK: grpc.health.v1.Health

    /// `Check`: the status of the requested service; NOT_FOUND when it has none.
    public func check(
        request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext
    ) async throws -> Grpc_Health_V1_HealthCheckResponse {
        guard let status = status(forService: request.service) else {
            throw RPCError(code: .notFound, message: "unknown service \(Self.quoted(request.service))")
        }
        return .with { $0.status = status.proto }
    }

    /// `Watch`: the status of the requested service now (SERVICE_UNKNOWN when it has none), then each
    /// change, until the client cancels or `enterShutdown()`. A watcher that falls behind gets the latest
    /// status, not every one in between.
    public func watch(
        request: Grpc_Health_V1_HealthCheckRequest,
        response: ResponseWriter<Grpc_Health_V1_HealthCheckResponse>,
        context: ServerContext
    ) async throws {
        let (updates, continuation) = AsyncStream.makeStream(of: HealthStatus.self, bufferingPolicy: .bufferingNewest(1))
        let id: Int? = state.withLock { s in
            // The current status goes into the stream under the lock, so no change can come before it.
            continuation.yield(s.statuses[request.service] ?? .serviceUnknown)
            guard !s.shutDown else { return nil }
            let id = s.nextWatcher
            s.nextWatcher += 1
            s.watchers[id] = Watcher(service: request.service, continuation: continuation)
            return id
        }
        if let id {
            continuation.onTermination = { [weak self] _ in
                self?.state.withLock { _ = $0.watchers.removeValue(forKey: id) }
            }
        } else {
            continuation.finish()
        }
        for await status in updates {
            try await response.write(.with { $0.status = status.proto })
        }
    }

    private static func quoted(_ service: String) -> String {
        service.count <= 64 ? "'\(service)'" : "'\(service.prefix(64))...'"
    }
}
