@_spi(Locking) import BreakwaterCore

/// A client interceptor that limits the calls of each method in flight at once, with a
/// ``ConcurrencyLimiter`` per method: a fixed bulkhead, or a limit that adapts to the measured latency
/// (``GradientLimit``). A call above the limit fails at once with RESOURCE_EXHAUSTED, before any network
/// I/O, so an overloaded backend sheds load at the client instead of queueing it.
///
/// Put it outermost, before ``ResilienceInterceptor``: a rejected call then costs no breaker sample and
/// no retry. A call holds its slot until its response ends. Its latency sample is the time to its response
/// headers (or failure) on the injected clock; a call that ended with DEADLINE_EXCEEDED,
/// RESOURCE_EXHAUSTED or UNAVAILABLE counts as dropped (the limit backs off); one the caller cancelled is
/// no sample.
public struct ConcurrencyLimitInterceptor: ClientInterceptor {
    /// The status codes that count as a sign of overload.
    public static let droppedCodes: Set<Status.Code> = [.deadlineExceeded, .resourceExhausted, .unavailable]

    /// The policy of every method's limiter.
    public let policy: ConcurrencyLimitPolicy
    private let clock: InterceptorClock
    private let limiters: Limiters

    /// Creates an interceptor.
    /// - Parameters:
    ///   - policy: Each method's limit.
    ///   - clock: The clock latency is measured on; a manual clock in tests.
    /// - Throws: ``ConfigurationError`` naming the invalid field.
    public init(policy: ConcurrencyLimitPolicy, clock: some Clock<Duration> = ContinuousClock()) throws(ConfigurationError) {
        try policy.validate()
        self.policy = policy
        self.clock = InterceptorClock(clock)
        self.limiters = Limiters(policy: policy)
    }

    /// The limiter of `method` (created on its first call).
    public func limiter(for method: MethodDescriptor) -> ConcurrencyLimiter {
        limiters.limiter(for: method)
    }

    /// Admits the call or rejects it at once.
    public func intercept(
        request: ClientRequest,
        context: ClientContext,
        next: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        let limiter = limiters.limiter(for: context.descriptor)
        guard let permit = limiter.tryAcquire() else {
            throw RPCError(
                code: .resourceExhausted,
                message: "Client concurrency limit reached for \(context.descriptor): \(limiter.limit) calls in flight")
        }
        let start = clock.elapsed()
        let response: ClientResponse
        do {
            response = try await next(request, context)
        } catch {
            let rtt = clock.elapsed() - start
            let code = (error as? RPCError)?.code
            limiter.release(permit, rtt: code == .cancelled ? nil : rtt, dropped: code.map { Self.droppedCodes.contains($0) } ?? true)
            throw error
        }
        var observed = response
        observed.body = response.body.notifying(SlotRelease(limiter: limiter, permit: permit, rtt: clock.elapsed() - start))
        return observed
    }
}

/// Gives a call's slot back when its response ends, with the latency measured at its headers.
private struct SlotRelease: ClientResponseObserver {
    let limiter: ConcurrencyLimiter
    let permit: ConcurrencyLimiter.Permit
    let rtt: Duration

    func responseEnded(_ end: ClientResponseEnd) {
        switch end {
        case .trailers:
            limiter.release(permit, rtt: rtt, dropped: false)
        case .error(let error):
            let code = (error as? RPCError)?.code
            if code == .cancelled {
                limiter.release(permit, rtt: nil, dropped: false)
            } else {
                limiter.release(permit, rtt: rtt, dropped: code.map { ConcurrencyLimitInterceptor.droppedCodes.contains($0) } ?? true)
            }
        case .abandoned:
            limiter.release(permit, rtt: nil, dropped: false)
        }
    }
}

/// The limiters by method, under a `TSanMutex`; never removed.
private final class Limiters: Sendable {
    let policy: ConcurrencyLimitPolicy
    private let byMethod = TSanMutex<[MethodDescriptor: ConcurrencyLimiter]>([:])

    init(policy: ConcurrencyLimitPolicy) { self.policy = policy }

    func limiter(for method: MethodDescriptor) -> ConcurrencyLimiter {
        byMethod.withLock { table in
            if let limiter = table[method] { return limiter }
            let limiter = ConcurrencyLimiter(policy: policy)
            table[method] = limiter
            return limiter
        }
    }
}
