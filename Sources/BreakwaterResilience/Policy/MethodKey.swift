import BreakwaterCore

/// A key of a ``PolicyTable``: a whole service, or one method of it.
public struct MethodKey: Sendable, Hashable, CustomStringConvertible {
    /// The fully qualified service name, e.g. `echo.Echo`.
    public var service: String
    /// The method name; `nil` for every method of the service.
    public var method: String?

    /// Creates a key for one method, or for the whole service when `method` is nil.
    public init(service: String, method: String? = nil) {
        self.service = service
        self.method = method
    }

    /// The key of exactly this method.
    public init(_ descriptor: MethodDescriptor) {
        self.init(service: descriptor.service, method: descriptor.method)
    }

    public var description: String { method.map { "\(service)/\($0)" } ?? service }
}
