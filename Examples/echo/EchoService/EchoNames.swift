/// The typed client of `echo.Echo` under the name the example's callers have used since before its
/// code was generated (`Generated/echo.grpc.swift` declares it as `Echo_Echo.Client`).
public typealias Echo_EchoClient = Echo_Echo.Client
