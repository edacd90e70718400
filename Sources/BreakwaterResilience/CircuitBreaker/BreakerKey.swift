import BreakwaterCore

/// What one circuit breaker protects: a method or a service of a target, or any named dependency.
///
/// Its description is the name used in errors and logs: `echo.Echo/Get`, `echo.Echo` for a
/// service-wide breaker, prefixed with the target when there is one (`localhost:50051/echo.Echo/Get`).
public struct BreakerKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The target (for example `host:port`); empty for a standalone breaker.
    public var target: String
    /// The fully qualified service name, or the breaker's name for a standalone breaker.
    public var service: String
    /// The method name; `nil` for a breaker that covers the whole service.
    public var method: String?

    /// Creates a key for a method (or, with `method` nil, a whole service) of a target.
    public init(target: String = "", service: String, method: String? = nil) {
        self.target = target
        self.service = service
        self.method = method
    }

    /// Creates a key for a standalone breaker around any dependency, e.g. `"orders-db"`.
    public init(name: String) {
        self.init(service: name)
    }

    /// The key of the breaker that covers `method` on `target` with the given scope.
    public init(target: String, method: MethodDescriptor, scope: CircuitBreakerPolicy.Scope) {
        switch scope {
        case .method: self.init(target: target, service: method.service, method: method.method)
        case .service: self.init(target: target, service: method.service)
        }
    }

    public var description: String {
        let name = method.map { "\(service)/\($0)" } ?? service
        return target.isEmpty ? name : "\(target)/\(name)"
    }

    public static func < (lhs: BreakerKey, rhs: BreakerKey) -> Bool {
        (lhs.target, lhs.service, lhs.method ?? "") < (rhs.target, rhs.service, rhs.method ?? "")
    }
}
