import BreakwaterCore

/// Asks a server's health service (`grpc.health.v1.Health`) for the serving status of its services.
///
/// ```swift
/// let health = HealthClient(wrapping: grpcClient)
/// if try await health.check(service: "echo.Echo") == .serving { ... }
/// for try await status in try await health.watch(service: "echo.Echo") { print(status) }
/// ```
public struct HealthClient: Sendable {
    /// The generated client the calls go through.
    public let client: Grpc_Health_V1_Health.Client

    /// Creates a health client whose calls run through `client`.
    public init(wrapping client: GRPCClient) {
        self.client = Grpc_Health_V1_Health.Client(wrapping: client)
    }

    /// The status of `service` (the empty name: the whole server).
    /// - Throws: `RPCError` NOT_FOUND when the server knows no such service, UNIMPLEMENTED when it serves
    ///   no health service, or the call's failure.
    public func check(service: String = "", options: CallOptions = .defaults) async throws -> HealthStatus {
        let response = try await client.check(.with { $0.service = service }, options: options)
        return HealthStatus(response.status)
    }

    /// Follows the status of `service`: the current one first, then each change. Returns at once, without
    /// waiting for the server; a call that fails before any answer (UNIMPLEMENTED from a server without a
    /// health service, UNAVAILABLE) throws from the first `next()`. Iteration ends when the server ends
    /// the call (it then throws unless the status was OK); dropping the sequence cancels it.
    /// - Parameters:
    ///   - service: The service whose status to follow; the empty name is the whole server.
    ///   - options: Options for the call (a deadline ends the watch with DEADLINE_EXCEEDED).
    public func watch(service: String = "", options: CallOptions = .defaults) async throws -> Statuses {
        Statuses(responses: try await client.watch(.with { $0.service = service }, options: options))
    }

    /// The statuses a `Watch` call reports.
    public struct Statuses: AsyncSequence, Sendable {
        /// A status.
        public typealias Element = HealthStatus
        /// An `RPCError`.
        public typealias Failure = any Error

        let responses: ResponseStream<Grpc_Health_V1_HealthCheckResponse>

        /// Cancels the call.
        public func cancel() { responses.cancel() }

        /// Starts iterating.
        public func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(base: responses.makeAsyncIterator())
        }

        /// Iterates the statuses.
        public struct AsyncIterator: AsyncIteratorProtocol {
            var base: ResponseStream<Grpc_Health_V1_HealthCheckResponse>.AsyncIterator

            /// The next status; `nil` once the call ended with OK.
            public mutating func next() async throws -> HealthStatus? {
                try await base.next().map { HealthStatus($0.status) }
            }
        }
    }
}
