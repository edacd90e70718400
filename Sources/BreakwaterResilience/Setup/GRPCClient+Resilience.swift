import BreakwaterCore

extension GRPCClient {
    /// Creates a client with the standard resilience chain (Timeout, Retry, CircuitBreaker) in front
    /// of every method, followed by `interceptors`.
    /// - Parameters:
    ///   - transport: The transport calls run over.
    ///   - resilience: The policies, throttle, breakers and clock of the chain.
    ///   - interceptors: More interceptors, inside the resilience chain (each attempt passes them).
    ///   - defaultOptions: Options for calls that do not set their own.
    ///   - retryBufferBytes: The retry buffer limit per call (default 256 KiB).
    public convenience init(
        transport: any ClientTransport,
        resilience: ResilienceConfiguration,
        interceptors: [ConditionalInterceptor<any ClientInterceptor>] = [],
        defaultOptions: CallOptions = .defaults,
        retryBufferBytes: Int = 256 * 1024
    ) {
        self.init(
            transport: transport,
            interceptors: resilience.interceptors + interceptors,
            defaultOptions: defaultOptions,
            retryBufferBytes: retryBufferBytes
        )
    }
}
