import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterHealth
import BreakwaterInterop
import BreakwaterReflection
import EchoService
import Foundation
import Testing

@Suite("Reflection service (grpc.reflection.v1 and v1alpha)", .serialized, .timeLimit(.minutes(1)))
struct ReflectionTests {
    static let services = [
        "echo.Echo", "grpc.health.v1.Health", "grpc.testing.TestService",
        "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
    ]

    @Test("lists the services it describes, the reflection services too")
    func listsServices() throws {
        let reflection = try ReflectionService(describing: [
            Echo_Echo.fileDescriptorProtos, Grpc_Health_V1_Health.fileDescriptorProtos,
            Grpc_Testing_TestService.fileDescriptorProtos,
        ])
        // test.proto declares six services; all are listed, the others after the three asked for.
        #expect(Array(reflection.serviceNames.prefix(2)) == ["echo.Echo", "grpc.health.v1.Health"])
        for service in Self.services { #expect(reflection.serviceNames.contains(service)) }
        #expect(throws: ReflectionService.Error.self) { try ReflectionService(describing: [["not base64!"]]) }
    }

    @Test("grpcio-reflection's client lists services and fetches files by symbol and name")
    func grpcioClient() async throws {
        let reflection = try ReflectionService(describing: [
            Echo_Echo.fileDescriptorProtos, Grpc_Health_V1_Health.fileDescriptorProtos,
            Grpc_Testing_TestService.fileDescriptorProtos,
        ])
        let server = GRPCServer(
            transport: HTTP2ServerTransport(host: "127.0.0.1", port: 0),
            services: [EchoProvider(), HealthService(), TestServiceProvider(), reflection])
        let port = try await server.start()
        var arguments = ["--port", String(port)]
        for service in Self.services { arguments += ["--service", service] }
        for symbol in [
            "echo.Echo=echo.proto", "echo.EchoRequest=echo.proto",
            "grpc.health.v1.HealthCheckResponse.ServingStatus=grpc/health/v1/health.proto",
            "grpc.testing.SimpleRequest=grpc/testing/messages.proto",
            "grpc.testing.TestService.UnaryCall=grpc/testing/test.proto",
            "grpc.reflection.v1.ServerReflection=grpc/reflection/v1/reflection.proto",
        ] {
            arguments += ["--symbol", symbol]
        }
        for method in [
            "grpc.testing.TestService.StreamingOutputCall=grpc.testing.StreamingOutputCallRequest",
            "echo.Echo.Update=echo.EchoRequest", "grpc.health.v1.Health.Watch=grpc.health.v1.HealthCheckRequest",
        ] {
            arguments += ["--method", method]
        }
        let (status, output) = try await PythonPeer.run("grpcio_reflection_client.py", arguments)
        await server.shutdownGracefully(gracePeriod: .seconds(1))
        #expect(status == 0, "\(output)")
        #expect(output.contains(" passed, 0 failed"), "\(output)")
    }

    @Test("echo-server and interop-server serve reflection")
    func executablesServeReflection() async throws {
        for (command, services, stopsOnEOF) in [
            ([InteropPeer.binary("echo-server"), "--port", "0", "--announce-port"], ["echo.Echo", "grpc.health.v1.Health"], false),
            ([InteropPeer.binary("interop-server"), "--port", "0", "--announce_port", "--exit_on_stdin_eof"],
             ["grpc.testing.TestService", "grpc.health.v1.Health"], true),
        ] {
            let server = try await InteropPeer.start(command)
            var arguments = ["--port", String(server.port)]
            for service in services { arguments += ["--service", service] }
            let (status, output) = try await PythonPeer.run("grpcio_reflection_client.py", arguments)
            if stopsOnEOF { await server.stop() } else { await server.kill() }
            #expect(status == 0, "\(command[0]):\n\(output)")
        }
    }
}
