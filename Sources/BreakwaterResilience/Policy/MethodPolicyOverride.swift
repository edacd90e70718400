import BreakwaterCore

/// A change to a method's resilience policy for one call, carried in its options
/// (``BreakwaterCore/CallOptions/policyOverride``).
///
/// ```swift
/// // An admin call: more time than the method's timeout, no retry, and not through the breaker.
/// var options = CallOptions()
/// options.policyOverride = MethodPolicyOverride(timeout: .set(.seconds(30)), retry: .off, bypassCircuitBreaker: true)
/// let report = try await admin.rebuildIndex(request, options: options)
/// ```
///
/// Each field either keeps the method's setting (``Setting/inherit``, the default), removes it for the
/// call (``Setting/off``) or replaces it (``Setting/set(_:)``). A method is retried or hedged, not
/// both: setting a ``retry`` policy also turns the method's hedging off for the call, and setting a
/// ``hedging`` policy turns its retry off. The call still goes through the method's circuit breaker,
/// unless ``bypassCircuitBreaker``; an override cannot choose another breaker or make one.
///
/// An override is checked, as a ``MethodPolicy`` is, on each call that carries one: an invalid one
/// fails the call with INVALID_ARGUMENT, naming the field (`retry.maxAttempts: 1 is not > 1`), before
/// anything is sent. The override replaces the method's setting for the call only; the caller's own
/// deadline (`CallOptions.timeout`) still applies.
public struct MethodPolicyOverride: Sendable, Hashable {
    /// What one call does with one of its method's settings.
    public enum Setting<Value: Sendable & Hashable>: Sendable, Hashable {
        /// The method's own setting.
        case inherit
        /// None for this call: no policy timeout, no retry, no hedging.
        case off
        /// This value instead of the method's.
        case set(Value)
    }

    /// The timeout of the whole call, attempts included, in place of ``MethodPolicy/timeout``.
    public var timeout: Setting<Duration>
    /// The retry policy in place of ``MethodPolicy/retry``; ``Setting/off``: the call is sent once
    /// (only the transparent retry of a stream that never reached the server remains).
    public var retry: Setting<RetryPolicy>
    /// The hedging policy in place of ``MethodPolicy/hedging``; ``Setting/off``: not hedged.
    public var hedging: Setting<HedgingPolicy>
    /// Whether the call's attempts skip the method's circuit breaker: neither rejected by it nor
    /// counted in it (an admin or health call that must reach a backend the breaker closed off).
    public var bypassCircuitBreaker: Bool

    /// Creates an override; by default it changes nothing.
    /// - Parameters:
    ///   - timeout: The call's timeout in place of the method's.
    ///   - retry: The call's retry policy in place of the method's.
    ///   - hedging: The call's hedging policy in place of the method's.
    ///   - bypassCircuitBreaker: Whether the call's attempts skip the method's breaker.
    public init(
        timeout: Setting<Duration> = .inherit, retry: Setting<RetryPolicy> = .inherit,
        hedging: Setting<HedgingPolicy> = .inherit, bypassCircuitBreaker: Bool = false
    ) {
        self.timeout = timeout
        self.retry = retry
        self.hedging = hedging
        self.bypassCircuitBreaker = bypassCircuitBreaker
    }

    /// Sends the call once: no retry and no hedging, whatever the method's policy.
    public static let noRetry = MethodPolicyOverride(retry: .off, hedging: .off)

    /// Checks the override: the timeout, and the retry and hedging policies it sets. The error's path
    /// names the field as ``MethodPolicy/validate()`` does (`timeout`, `retry.maxAttempts`,
    /// `hedging.hedgingDelay`); setting both a retry and a hedging policy is rejected at path `hedging`.
    public func validate() throws(ConfigurationError) {
        if case .set(let timeout) = timeout, timeout <= .zero {
            throw ConfigurationError(path: "timeout", value: "\(timeout)", reason: "is not > 0")
        }
        if case .set(let retry) = retry {
            do { try retry.validate() } catch { throw error.prefixed("retry") }
        }
        if case .set(let hedging) = hedging {
            if case .set = retry {
                throw ConfigurationError(path: "hedging", value: "", reason: "cannot be combined with retry (a call is either retried or hedged)")
            }
            do { try hedging.validate() } catch { throw error.prefixed("hedging") }
        }
    }

    /// The timeout of a call of a method whose own is `methodTimeout`.
    func timeout(over methodTimeout: Duration?) -> Duration? {
        switch timeout {
        case .inherit: methodTimeout
        case .off: nil
        case .set(let value): value
        }
    }

    /// The retry policy of a call of a method with `methodRetry` and `methodHedging`: a hedging policy
    /// set here turns the retry off.
    func retry(over methodRetry: RetryPolicy?) -> RetryPolicy? {
        switch retry {
        case .set(let value): return value
        case .off: return nil
        case .inherit:
            if case .set = hedging { return nil }
            return methodRetry
        }
    }

    /// The hedging policy of a call of a method with `methodHedging`: a retry policy set here turns the
    /// hedging off.
    func hedging(over methodHedging: HedgingPolicy?) -> HedgingPolicy? {
        switch hedging {
        case .set(let value): return value
        case .off: return nil
        case .inherit:
            if case .set = retry { return nil }
            return methodHedging
        }
    }

    /// The error that fails a call with an invalid override, before any I/O.
    static func invalid(_ error: ConfigurationError, for method: MethodDescriptor) -> RPCError {
        RPCError(code: .invalidArgument, message: "invalid policy override for \(method.path): \(error)")
    }
}

extension CallOptions {
    /// The key of ``policyOverride`` in ``BreakwaterCore/CallOptions/extensions``.
    enum PolicyOverrideKey: ExtensionKey {
        typealias Value = MethodPolicyOverride
    }

    /// A change to the method's resilience policy for this call (timeout, retry, hedging, breaker);
    /// `nil`: the method's policy as it is. Read by ``ResilienceInterceptor`` and the separate stages.
    /// Set on a client's default options, it applies to every call that sets none of its own.
    public var policyOverride: MethodPolicyOverride? {
        get { extensions[PolicyOverrideKey.self] }
        set { extensions[PolicyOverrideKey.self] = newValue }
    }

    /// Whether the call carries an override: the empty-extensions check first, so that the common call
    /// never copies an optional override out of the extensions (an early rejection asks this every call).
    @inline(__always)
    var hasPolicyOverride: Bool {
        !extensions.isEmpty && policyOverride != nil
    }

    /// The override of a call, checked; `nil` without one. The empty-extensions check comes first: the
    /// common call carries none and pays one comparison.
    @inline(__always)
    func checkedPolicyOverride(for method: MethodDescriptor) throws(RPCError) -> MethodPolicyOverride? {
        guard !extensions.isEmpty, let policyOverride else { return nil }
        do {
            try policyOverride.validate()
        } catch {
            throw MethodPolicyOverride.invalid(error, for: method)
        }
        return policyOverride
    }
}
