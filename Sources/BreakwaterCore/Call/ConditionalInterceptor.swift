/// An interceptor together with the methods it applies to.
///
/// Interceptors are composed at client (or server) setup in array order, the first being the outermost;
/// for each call the chain is built only from the interceptors whose scope matches the call's method.
public struct ConditionalInterceptor<Interceptor: Sendable>: Sendable {
    /// Which methods an interceptor applies to.
    public enum Scope: Sendable, Hashable {
        /// Every method.
        case all
        /// Every method of the services named (fully qualified, e.g. `"echo.Echo"`).
        case services(Set<String>)
        /// Only the methods listed.
        case methods(Set<MethodDescriptor>)

        /// Whether a call to `method` is in this scope.
        public func contains(_ method: MethodDescriptor) -> Bool {
            switch self {
            case .all: true
            case .services(let services): services.contains(method.service)
            case .methods(let methods): methods.contains(method)
            }
        }
    }

    /// The interceptor.
    public var interceptor: Interceptor
    /// The methods it applies to.
    public var scope: Scope

    /// Scopes `interceptor` to `scope`.
    public init(_ interceptor: Interceptor, scope: Scope = .all) {
        self.interceptor = interceptor
        self.scope = scope
    }

    /// Scopes `interceptor` to `scope`; reads well in an array literal: `.apply(Logging(), to: .all)`.
    public static func apply(_ interceptor: Interceptor, to scope: Scope) -> Self {
        Self(interceptor, scope: scope)
    }

    /// Whether this interceptor applies to a call to `method`.
    public func applies(to method: MethodDescriptor) -> Bool {
        scope.contains(method)
    }
}
