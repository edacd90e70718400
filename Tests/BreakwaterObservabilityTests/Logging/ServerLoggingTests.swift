import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterTestSupport
import Testing

@Suite("The server's logger: calls it ends itself, with service, method and peer", .timeLimit(.minutes(TestTime.minutes(1))))
struct ServerLoggingTests {
    /// A service whose one method throws an error that is not an `RPCError`.
    struct Failing: RegistrableService {
        struct Oops: Error {}
        static let method = MethodDescriptor(service: "test.Failing", method: "Fail")

        func registerMethods(with router: inout RPCRouter) {
            router.registerUnary(Self.method, deserializer: Bytes(), serializer: Bytes()) { _, _ in throw Oops() }
        }
    }

    struct Bytes: MessageSerializer, MessageDeserializer {
        func serialize(_ message: [UInt8]) throws -> [UInt8] { message }
        func deserialize(_ bytes: [UInt8]) throws -> [UInt8] { bytes }
    }

    @Test("a handler's unexpected error and an unknown method are debug lines")
    func endedByTheServer() async throws {
        let log = CapturedLog()
        let server = GRPCServer(
            transport: HTTP2ServerTransport(host: "127.0.0.1", port: 0), services: [Failing()], logger: log.logger())
        let port = try await server.start()
        let client = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: port))
        for method in [Failing.method, MethodDescriptor(service: "test.Failing", method: "Missing")] {
            await #expect(throws: RPCError.self) {
                _ = try await client.unary(request: [1], method: method, serializer: Bytes(), deserializer: Bytes())
            }
        }
        await client.close()
        await server.shutdownGracefully(gracePeriod: .seconds(2))

        let lines = log.recorded
        #expect(lines.map(\.message) == ["handler failed", "call rejected: method not implemented"])
        #expect(lines.allSatisfy { $0.level == .debug && $0.metadata["peer"]?.hasPrefix("ipv4:127.0.0.1:") == true })
        #expect(lines.first?.metadata["service"] == "test.Failing")
        #expect(lines.first?.metadata["method"] == "Fail")
        #expect(lines.last?.metadata["path"] == "/test.Failing/Missing")
    }
}
