@_spi(Locking) import BreakwaterCore
import BreakwaterTestSupport
import EchoService
import Testing

@testable import BreakwaterResilience

/// Records the request metadata of every call the server sees, per method.
final class MetadataRecorder: ServerInterceptor {
    private let calls = TSanMutex<[(method: String, metadata: Metadata)]>([])

    func intercept(
        request: ServerRequest,
        context: ServerContext,
        next: @Sendable (ServerRequest, ServerContext) async throws -> Void
    ) async throws {
        calls.withLock { $0.append((context.descriptor.method, request.metadata)) }
        try await next(request, context)
    }

    /// The values of `key` of each call to `method`, in order (`nil` when a call did not send it).
    func values(_ key: String, method: String) -> [String?] {
        calls.withLock { calls in calls.filter { $0.method == method }.map { $0.metadata.firstString(forKey: key) } }
    }
}

/// Raw bytes as messages, for the test services.
struct BytesCoder: MessageSerializer, MessageDeserializer {
    func serialize(_ message: [UInt8]) throws -> [UInt8] { message }
    func deserialize(_ bytes: [UInt8]) throws -> [UInt8] { bytes }
}

/// A test service, `test.Flaky`:
/// - `Get` (unary) ends each call with the next scripted failure (UNAVAILABLE plus the scripted
///   `grpc-retry-pushback-ms` trailer, if any), then answers `ok` once the script is used up.
/// - `Stream` (server streaming) sends one message, then fails with UNAVAILABLE: a failure after the
///   response headers.
final class FlakyService: RegistrableService {
    static let get = MethodDescriptor(service: "test.Flaky", method: "Get")
    static let stream = MethodDescriptor(service: "test.Flaky", method: "Stream")
    /// A healthy watch: one message at once, then nothing until the caller goes.
    static let watch = MethodDescriptor(service: "test.Flaky", method: "Watch")

    private struct State {
        var script: [String?]
        var getCalls = 0
        var streamCalls = 0
    }

    private let state: TSanMutex<State>

    /// `pushbacks`: one failure per element, with that pushback trailer value (`nil`: no trailer).
    init(pushbacks: [String?] = []) {
        state = TSanMutex(State(script: pushbacks))
    }

    var getCalls: Int { state.withLock { $0.getCalls } }
    var streamCalls: Int { state.withLock { $0.streamCalls } }

    func registerMethods(with router: inout RPCRouter) {
        router.registerUnary(Self.get, deserializer: BytesCoder(), serializer: BytesCoder()) { _, context in
            let failure = self.state.withLock { s -> String?? in
                s.getCalls += 1
                return s.script.isEmpty ? .none : .some(s.script.removeFirst())
            }
            if case .some(let pushback) = failure {
                var trailers: Metadata = [:]
                if let pushback { trailers.addString(pushback, forKey: RetryPushback.metadataKey) }
                throw RPCError(code: .unavailable, message: "scripted failure", metadata: trailers)
            }
            return Array("ok".utf8)
        }
        router.registerServerStreaming(Self.stream, deserializer: BytesCoder(), serializer: BytesCoder()) {
            _, writer, _ in
            self.state.withLock { $0.streamCalls += 1 }
            try await writer.write(Array("first".utf8))
            throw RPCError(code: .unavailable, message: "failed after headers")
        }
        router.registerServerStreaming(Self.watch, deserializer: BytesCoder(), serializer: BytesCoder()) {
            _, writer, _ in
            try await writer.write(Array("snapshot".utf8))
            try await Task.sleep(for: .seconds(3600))
        }
    }
}

/// A client interceptor that fails the first `count` attempts as if their stream never reached the
/// server (the marker the transparent retry looks for), without calling `next`.
final class RefuseStreams: ClientInterceptor {
    struct NeverReached: NeverReachedServerMarker {}

    private let remaining: TSanMutex<Int>
    init(count: Int) { remaining = TSanMutex(count) }

    func intercept(
        request: ClientRequest,
        context: ClientContext,
        next: @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        let refuse = remaining.withLock { n -> Bool in
            guard n > 0 else { return false }
            n -= 1
            return true
        }
        if refuse {
            throw RPCError(code: .unavailable, message: "refused stream", cause: NeverReached())
        }
        return try await next(request, context)
    }
}

/// Records the context each attempt passes on.
final class ContextRecorder: ClientInterceptor {
    private let contexts = TSanMutex<[ClientContext]>([])
    var recorded: [ClientContext] { contexts.withLock { $0 } }

    func intercept(
        request: ClientRequest,
        context: ClientContext,
        next: @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        contexts.withLock { $0.append(context) }
        return try await next(request, context)
    }
}

/// An in-memory server with an `EchoProvider` (and `services`) and a client with `interceptors`.
struct EchoHarness {
    let grpc: GRPCClient
    let echo: Echo_EchoClient
    let provider: EchoProvider
}

func withEcho<Result>(
    provider: EchoProvider = EchoProvider(),
    services: [any RegistrableService] = [],
    serverInterceptors: [any ServerInterceptor] = [],
    interceptors: [ConditionalInterceptor<any ClientInterceptor>],
    _ body: (EchoHarness) async throws -> Result
) async throws -> Result {
    let transport = InProcessTransport()
    let server = GRPCServer(
        transport: transport.server, services: [provider] + services, interceptors: serverInterceptors)
    _ = try await server.start()
    let grpc = GRPCClient(transport: transport.client, interceptors: interceptors)
    let harness = EchoHarness(grpc: grpc, echo: Echo_EchoClient(wrapping: grpc), provider: provider)
    do {
        let result = try await body(harness)
        await grpc.close()
        await server.shutdownGracefully(gracePeriod: .seconds(5))
        return result
    } catch {
        await grpc.close()
        await server.shutdownGracefully(gracePeriod: .seconds(5))
        throw error
    }
}

func echoRequest(_ text: String) -> Echo_EchoRequest {
    Echo_EchoRequest.with { $0.text = text }
}

/// The protobuf encoding of an `Echo_EchoResponse` with `text` (shorter than 128 bytes).
func encodedEchoResponse(_ text: String) -> [UInt8] {
    [0x0A, UInt8(text.utf8.count)] + Array(text.utf8)
}

/// Calls `Get` on `test.Flaky` and returns the answer as a string.
func flakyGet(_ grpc: GRPCClient, options: CallOptions = .defaults) async throws -> String {
    let bytes = try await grpc.unary(
        request: [UInt8](), method: FlakyService.get, serializer: BytesCoder(), deserializer: BytesCoder(),
        options: options)
    return String(decoding: bytes, as: UTF8.self)
}

/// The `RPCError` `body` throws, or `nil` when it does not throw.
func rpcError(_ body: () async throws -> Void) async -> RPCError? {
    do {
        try await body()
        return nil
    } catch let error as RPCError {
        return error
    } catch {
        Issue.record("expected an RPCError, got \(error)")
        return nil
    }
}
