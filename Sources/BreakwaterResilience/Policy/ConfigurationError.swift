/// A policy or service config that cannot be used, naming the offending field and value.
///
/// The description reads like `methodConfig[0].retryPolicy.maxAttempts: 1 is not > 1`.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The path of the offending field, e.g. `methodConfig[0].retryPolicy.maxAttempts`.
    public var path: String
    /// The offending value as written, e.g. `1` or `"1.5"`; empty when the field is missing.
    public var value: String
    /// What is wrong with it, e.g. `is not > 1`.
    public var reason: String

    /// Creates an error.
    public init(path: String, value: String, reason: String) {
        self.path = path
        self.value = value
        self.reason = reason
    }

    /// The same error with `prefix` put in front of its path.
    public func prefixed(_ prefix: String) -> ConfigurationError {
        var copy = self
        copy.path = path.isEmpty ? prefix : "\(prefix).\(path)"
        return copy
    }

    public var description: String {
        value.isEmpty ? "\(path): \(reason)" : "\(path): \(value) \(reason)"
    }
}
