/// A method as generated code describes it: its descriptor, its call kind, its message types, and how its
/// response messages are encoded.
///
/// protoc-gen-breakwater makes each `Service.Method.Name` enum conform, so APIs can take a method as a
/// type and stay typed: a circuit-breaker fallback per method (`CircuitBreakerFallbacks` in
/// BreakwaterResilience), a test double answering with typed messages.
public protocol MethodDefinition: Sendable {
    /// The request message.
    associatedtype Input: Sendable
    /// The response message.
    associatedtype Output: Sendable
    /// Identifies the method.
    static var descriptor: MethodDescriptor { get }
    /// The call shape.
    static var kind: CallKind { get }
    /// Encodes a response message as the server would send it.
    static func serializeOutput(_ message: Output) throws -> [UInt8]
}

extension MethodDefinition {
    /// A response carrying `messages` and then status OK with `trailers`, as a client interceptor, a
    /// fallback or a test double returns it in place of the server's.
    /// - Throws: What `serializeOutput` throws.
    public static func response(
        _ messages: [Output], metadata: Metadata = [:], trailers: Metadata = [:]
    ) throws -> ClientResponse {
        ClientResponse(metadata: metadata, messages: try messages.map { try serializeOutput($0) }, trailers: trailers)
    }
}
