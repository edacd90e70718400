/// A service that can add its methods to a router; generated service protocols conform to it.
public protocol RegistrableService: Sendable {
    /// Registers a handler for each method of the service.
    func registerMethods(with router: inout RPCRouter)
}
