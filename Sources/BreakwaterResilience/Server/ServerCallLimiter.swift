@_spi(Locking) import BreakwaterCore

/// Server-side load shedding: at most a set number of calls of a method run at once; the excess is
/// refused before its handler runs.
///
/// A server that takes every call under overload answers all of them late, and its clients see
/// timeouts: slow failures that their breakers and retries can only guess about. Refused at once, the
/// excess gets a clean status instead: `RESOURCE_EXHAUSTED` (not retried by default; a client's breaker
/// counts it as the policy classifies it), or `UNAVAILABLE` with a `grpc-retry-pushback-ms` trailer, which
/// a retry policy that retries UNAVAILABLE honours by waiting that long (gRFC A6).
///
/// Limits resolve as policies do: the method's own entry, else its service's, else the default; each
/// method has its own count.
///
/// ```swift
/// let limiter = try ServerCallLimiter(limits: [MethodKey(service: "echo.Echo", method: "Get"): 64], defaultLimit: 256)
/// let server = GRPCServer(transport: transport, services: [EchoProvider()], interceptors: [limiter])
/// ```
public struct ServerCallLimiter: ServerInterceptor {
    /// How an excess call is refused.
    public enum Rejection: Sendable, Hashable {
        /// `RESOURCE_EXHAUSTED`.
        case resourceExhausted
        /// `UNAVAILABLE` with `grpc-retry-pushback-ms`: clients that retry UNAVAILABLE wait `pushback`.
        case unavailable(pushback: Duration)
    }

    /// The limits by service or by service and method.
    public let limits: [MethodKey: Int]
    /// The limit of methods without an entry; `nil`: unlimited.
    public let defaultLimit: Int?
    /// How an excess call is refused.
    public let rejection: Rejection
    private let counts: Counts

    /// Creates a limiter.
    /// - Throws: ``ConfigurationError`` when a limit is below 1 (`limits["echo.Echo/Get"]: 0 is not >= 1`)
    ///   or the pushback is negative.
    public init(limits: [MethodKey: Int] = [:], defaultLimit: Int? = nil, rejection: Rejection = .resourceExhausted) throws(ConfigurationError) {
        for key in limits.keys.sorted(by: { $0.description < $1.description }) {
            guard let limit = limits[key], limit < 1 else { continue }
            throw ConfigurationError(path: "limits[\"\(key)\"]", value: "\(limit)", reason: "is not >= 1")
        }
        if let defaultLimit, defaultLimit < 1 {
            throw ConfigurationError(path: "defaultLimit", value: "\(defaultLimit)", reason: "is not >= 1")
        }
        if case .unavailable(let pushback) = rejection, pushback < .zero {
            throw ConfigurationError(path: "rejection.pushback", value: "\(pushback)", reason: "is not >= 0")
        }
        self.limits = limits
        self.defaultLimit = defaultLimit
        self.rejection = rejection
        self.counts = Counts()
    }

    /// The limit that applies to `method`; `nil`: unlimited.
    public func limit(for method: MethodDescriptor) -> Int? {
        limits[MethodKey(method)] ?? limits[MethodKey(service: method.service)] ?? defaultLimit
    }

    /// How many calls of `method` are running through this limiter now.
    public func inFlight(_ method: MethodDescriptor) -> Int {
        counts.value(method)
    }

    /// Runs the call if its method is under its limit; refuses it otherwise, without running the handler.
    public func intercept(
        request: ServerRequest,
        context: ServerContext,
        next: @concurrent @Sendable (ServerRequest, ServerContext) async throws -> Void
    ) async throws {
        let method = context.descriptor
        guard let limit = limit(for: method) else {
            return try await next(request, context)
        }
        guard counts.enter(method, limit: limit) else { throw refusal(method, limit: limit) }
        defer { counts.leave(method) }
        try await next(request, context)
    }

    private func refusal(_ method: MethodDescriptor, limit: Int) -> RPCError {
        let message = "\(method.service)/\(method.method) is at its limit of \(limit) concurrent calls"
        switch rejection {
        case .resourceExhausted:
            return RPCError(code: .resourceExhausted, message: message)
        case .unavailable(let pushback):
            var trailers = Metadata()
            trailers.addString(RetryPushback.retryAfter(pushback).headerValue, forKey: RetryPushback.metadataKey)
            return RPCError(code: .unavailable, message: message, metadata: trailers)
        }
    }

    /// The running calls per method, under a lock: one short critical section at a call's start and end.
    private final class Counts: Sendable {
        private let running = TSanMutex<[MethodDescriptor: Int]>([:])

        func enter(_ method: MethodDescriptor, limit: Int) -> Bool {
            running.withLock { running in
                let now = running[method, default: 0]
                guard now < limit else { return false }
                running[method] = now + 1
                return true
            }
        }

        func leave(_ method: MethodDescriptor) {
            running.withLock { running in
                let now = running[method, default: 1] - 1
                running[method] = now > 0 ? now : nil
            }
        }

        func value(_ method: MethodDescriptor) -> Int {
            running.withLock { $0[method, default: 0] }
        }
    }
}
