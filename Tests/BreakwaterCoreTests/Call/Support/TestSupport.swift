@_spi(Locking) import BreakwaterCore

struct StringSerializer: MessageSerializer {
    func serialize(_ message: String) throws -> [UInt8] { Array(message.utf8) }
}

struct StringDeserializer: MessageDeserializer {
    struct InvalidUTF8: Error {}
    func deserialize(_ bytes: [UInt8]) throws -> String {
        guard let string = String(validating: bytes, as: UTF8.self) else { throw InvalidUTF8() }
        return string
    }
}

/// A one-shot signal a test can await without sleeping.
final class Signal: Sendable {
    private let state = TSanMutex<(fired: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func fire() {
        let waiters = state.withLock { s in
            s.fired = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    var fired: Bool { state.withLock { $0.fired } }

    func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let fired = state.withLock { s -> Bool in
                if s.fired { return true }
                s.waiters.append(c)
                return false
            }
            if fired { c.resume() }
        }
    }
}

/// A thread-safe log of strings.
final class Log: Sendable {
    private let entries = TSanMutex<[String]>([])
    func append(_ entry: String) { entries.withLock { $0.append(entry) } }
    var all: [String] { entries.withLock { $0 } }
}

enum TestMethods {
    static let service = "test.Test"
    static let unary = MethodDescriptor(service: service, method: "Unary")
    static let clientStreaming = MethodDescriptor(service: service, method: "ClientStreaming")
    static let serverStreaming = MethodDescriptor(service: service, method: "ServerStreaming")
    static let bidi = MethodDescriptor(service: service, method: "Bidi")
    static let fail = MethodDescriptor(service: service, method: "Fail")
    static let crash = MethodDescriptor(service: service, method: "Crash")
    static let hang = MethodDescriptor(service: service, method: "Hang")
    static let hangStreaming = MethodDescriptor(service: service, method: "HangStreaming")
}

struct SecretError: Error, CustomStringConvertible {
    var description: String { "database password is hunter2" }
}

/// A service over strings: echoes, joins, splits; copies request metadata to headers and trailers;
/// fails on demand; hangs until cancelled.
final class TestService: RegistrableService {
    let requests = Log()
    let handlerCancelled = Signal()
    let handlerStarted = Signal()

    func registerMethods(with router: inout RPCRouter) {
        let s = StringSerializer(), d = StringDeserializer()
        router.registerUnary(TestMethods.unary, deserializer: d, serializer: s) { [self] request, context in
            requests.append(request)
            Self.echoMetadata(context)
            return request
        }
        router.registerClientStreaming(TestMethods.clientStreaming, deserializer: d, serializer: s) { [self] stream, context in
            var parts: [String] = []
            for try await part in stream { parts.append(part) }
            requests.append(parts.joined(separator: ","))
            Self.echoMetadata(context)
            return parts.joined(separator: ",")
        }
        router.registerServerStreaming(TestMethods.serverStreaming, deserializer: d, serializer: s) { [self] request, writer, context in
            requests.append(request)
            Self.echoMetadata(context)
            for part in request.split(separator: ",") { try await writer.write(String(part)) }
        }
        router.registerBidirectionalStreaming(TestMethods.bidi, deserializer: d, serializer: s) { [self] stream, writer, context in
            Self.echoMetadata(context)
            handlerStarted.fire()
            do {
                for try await message in stream { try await writer.write(message) }
            } catch {
                if Task.isCancelled { handlerCancelled.fire() }
                throw error
            }
        }
        router.registerUnary(TestMethods.fail, deserializer: d, serializer: s) { (request: String, context) -> String in
            context.responseTrailers.addString("from-context", forKey: "x-context")
            throw RPCError(code: .notFound, message: "no such thing: \(request)", metadata: ["x-detail": "missing"])
        }
        router.registerUnary(TestMethods.crash, deserializer: d, serializer: s) { (_: String, _) -> String in
            throw SecretError()
        }
        router.registerUnary(TestMethods.hang, deserializer: d, serializer: s) { [self] (_: String, _) -> String in
            handlerStarted.fire()
            do {
                while true { try await Task.sleep(for: .seconds(3600)) }
            } catch {
                handlerCancelled.fire()
                throw error
            }
        }
        router.registerServerStreaming(TestMethods.hangStreaming, deserializer: d, serializer: s) { [self] (_: String, writer, _) in
            try await writer.write("first")
            handlerStarted.fire()
            do {
                while true { try await Task.sleep(for: .seconds(3600)) }
            } catch {
                handlerCancelled.fire()
                throw error
            }
        }
    }

    /// Copies `x-echo*` request metadata into the response headers and trailers.
    static func echoMetadata(_ context: ServerContext) {
        var headers = context.responseHeaders
        var trailers = context.responseTrailers
        for element in context.requestMetadata where element.key.hasPrefix("x-echo") {
            headers.add(element.value, forKey: element.key)
            trailers.add(element.value, forKey: "trailer-" + element.key)
        }
        context.responseHeaders = headers
        context.responseTrailers = trailers
    }
}

/// Runs `body` with a client and a server connected in memory.
@discardableResult
func withClientAndServer<Result>(
    service: TestService = TestService(),
    clientInterceptors: [ConditionalInterceptor<any ClientInterceptor>] = [],
    serverInterceptors: [any ServerInterceptor] = [],
    retryBufferBytes: Int = 256 * 1024,
    _ body: (GRPCClient, TestService) async throws -> Result
) async throws -> Result {
    let transport = InProcessTransport()
    let server = GRPCServer(transport: transport.server, services: [service], interceptors: serverInterceptors)
    _ = try await server.start()
    let client = GRPCClient(
        transport: transport.client, interceptors: clientInterceptors, retryBufferBytes: retryBufferBytes)
    do {
        let result = try await body(client, service)
        await client.close()
        await server.shutdownGracefully(gracePeriod: .seconds(5))
        return result
    } catch {
        await client.close()
        await server.shutdownGracefully(gracePeriod: .seconds(5))
        throw error
    }
}

extension GRPCClient {
    func unaryString(
        _ request: String, method: MethodDescriptor = TestMethods.unary,
        options: CallOptions = .defaults, metadata: Metadata = [:]
    ) async throws -> UnaryResponse<String> {
        try await unaryWithMetadata(
            request: request, method: method, serializer: StringSerializer(), deserializer: StringDeserializer(),
            options: options, metadata: metadata)
    }
}
