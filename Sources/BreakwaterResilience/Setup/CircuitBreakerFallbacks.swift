import BreakwaterCore

/// Typed circuit-breaker fallbacks, one per method: answers in the method's own response type for calls
/// a breaker rejects, instead of the untyped ``CircuitBreakerInterceptor/Fallback`` that builds a
/// `ClientResponse` of bytes.
///
/// Methods are the generated `Service.Method.Name` types (`MethodDefinition`s):
///
/// ```swift
/// var fallbacks = CircuitBreakerFallbacks()
/// fallbacks.answer(Echo_Echo.Method.Get.self) { rejection, context in
///     .with { $0.text = "cached" }
/// }
/// fallbacks.answerStream(Echo_Echo.Method.Expand.self) { _, _ in [] }
/// let resilience = try ResilienceConfiguration.serviceConfig(json: json, target: "echo", fallback: fallbacks.fallback)
/// ```
///
/// A method without an answer, or whose answer returns `nil`, fails with the rejection.
public struct CircuitBreakerFallbacks: Sendable {
    private var answers: [MethodDescriptor: CircuitBreakerInterceptor.Fallback] = [:]

    /// No fallbacks.
    public init() {}

    /// Answers rejected calls of `method` with one response message (for unary and client-streaming
    /// methods); returning `nil` fails the call with the rejection. Replaces an earlier answer.
    public mutating func answer<Method: MethodDefinition>(
        _ method: Method.Type,
        with answer: @escaping @Sendable (CircuitBreakerRejection, ClientContext) async throws -> Method.Output?
    ) {
        answers[Method.descriptor] = { rejection, context in
            guard let message = try await answer(rejection, context) else { return nil }
            return try Method.response([message])
        }
    }

    /// Answers rejected calls of `method` with a sequence of response messages (for server-streaming and
    /// bidirectional methods); returning `nil` fails the call with the rejection.
    public mutating func answerStream<Method: MethodDefinition>(
        _ method: Method.Type,
        with answer: @escaping @Sendable (CircuitBreakerRejection, ClientContext) async throws -> [Method.Output]?
    ) {
        answers[Method.descriptor] = { rejection, context in
            guard let messages = try await answer(rejection, context) else { return nil }
            return try Method.response(messages)
        }
    }

    /// Whether `method` has an answer.
    public func hasAnswer(for method: MethodDescriptor) -> Bool { answers[method] != nil }

    /// The fallback to give ``CircuitBreakerInterceptor`` or ``ResilienceConfiguration``: it looks up the
    /// rejected call's method.
    public var fallback: CircuitBreakerInterceptor.Fallback {
        let answers = self.answers
        return { rejection, context in
            guard let answer = answers[context.descriptor] else { return nil }
            return try await answer(rejection, context)
        }
    }
}
