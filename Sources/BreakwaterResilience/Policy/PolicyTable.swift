import BreakwaterCore

/// Method policies keyed by service and method; the most specific entry wins.
///
/// ``policy(for:)`` looks for the exact service and method, then the service, then the default.
/// The entry found is used whole: fields are not merged across levels, as in gRPC service configs.
public struct PolicyTable: Sendable, Hashable {
    /// The policy of methods without a more specific entry; `nil`: none.
    public var defaultPolicy: MethodPolicy?
    /// The entries, by service or by service and method.
    public var entries: [MethodKey: MethodPolicy]

    /// Creates a table.
    public init(defaultPolicy: MethodPolicy? = nil, entries: [MethodKey: MethodPolicy] = [:]) {
        self.defaultPolicy = defaultPolicy
        self.entries = entries
    }

    /// The entry for exactly `key` (not resolved).
    public subscript(key: MethodKey) -> MethodPolicy? {
        get { entries[key] }
        set { entries[key] = newValue }
    }

    /// The policy for `method`: its own entry, else its service's, else the default.
    public func policy(for method: MethodDescriptor) -> MethodPolicy? {
        entries[MethodKey(method)] ?? entries[MethodKey(service: method.service)] ?? defaultPolicy
    }

    /// Checks every policy: the first invalid value, its path naming the entry, e.g.
    /// `policies["echo.Echo/Get"].retry.maxAttempts` or `policies.default.timeout`. Entries are
    /// checked in key order, so the same table always reports the same field.
    public func validate() throws(ConfigurationError) {
        if let defaultPolicy {
            do { try defaultPolicy.validate() } catch { throw error.prefixed("policies.default") }
        }
        for key in entries.keys.sorted(by: { $0.description < $1.description }) {
            guard let policy = entries[key] else { continue }
            do { try policy.validate() } catch { throw error.prefixed("policies[\"\(key)\"]") }
        }
    }
}
