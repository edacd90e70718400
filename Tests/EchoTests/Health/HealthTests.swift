import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterHealth
import BreakwaterTestSupport
import EchoService
import Foundation
import Testing

@Suite("Health service (grpc.health.v1)", .serialized, .timeLimit(.minutes(1)))
struct HealthTests {
    @Test("Check, Watch, removal and shutdown over the in-process transport")
    func semantics() async throws {
        let health = HealthService(statuses: ["": .serving, "svc": .notServing])
        let transport = InProcessTransport()
        let server = GRPCServer(transport: transport.server, services: [health])
        _ = try await server.start()
        let grpc = GRPCClient(transport: transport.client)
        let client = HealthClient(wrapping: grpc)

        #expect(try await client.check() == .serving)
        #expect(try await client.check(service: "svc") == .notServing)
        await #expect(throws: RPCError.self) { try await client.check(service: "missing") }
        do {
            _ = try await client.check(service: "missing")
        } catch let error as RPCError {
            #expect(error.code == .notFound)
        }

        let statuses = try await client.watch(service: "svc")
        var iterator = statuses.makeAsyncIterator()
        #expect(try await iterator.next() == .notServing)
        health.setStatus(.serving, forService: "svc")
        #expect(try await iterator.next() == .serving)
        health.removeStatus(forService: "svc")
        #expect(try await iterator.next() == .serviceUnknown)
        health.enterShutdown()
        #expect(try await iterator.next() == .notServing)
        #expect(try await iterator.next() == nil)
        #expect(health.watcherCount == 0)
        health.setStatus(.serving, forService: "")
        #expect(try await client.check() == .notServing)

        await grpc.close()
        await server.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test("grpcio-health-checking's client against our health service")
    func grpcioClientAgainstOurServer() async throws {
        let health = HealthService(statuses: ["": .serving, Echo_Echo.serviceName: .serving, "flip": .notServing])
        let server = GRPCServer(transport: HTTP2ServerTransport(host: "127.0.0.1", port: 0), services: [EchoProvider(), health])
        let port = try await server.start()
        let (process, stdin, stdout) = try PythonPeer.start("grpcio_health_client.py", ["--port", String(port)])
        async let output: String = PythonPeer.blocking {
            let data = stdout.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        // The client watches "flip" last; turn it SERVING once it does.
        let deadline = ContinuousClock.now + .seconds(15)
        while health.watcherCount(forService: "flip") == 0, ContinuousClock.now < deadline, process.isRunning {
            try await Task.sleep(for: .milliseconds(10))
        }
        health.setStatus(.serving, forService: "flip")
        let text = await output
        try? stdin.fileHandleForWriting.close()
        ChildProcess.kill(process)
        #expect(process.terminationStatus == 0, "\(text)")
        for check in ["check-server", "check-service", "check-not-serving", "check-unknown", "watch-unknown", "watch-change"] {
            #expect(text.contains("ok \(check)\n"), "\(check) did not pass:\n\(text)")
        }
        health.enterShutdown()
        await server.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test("HealthClient against grpcio-health-checking's server")
    func ourClientAgainstGrpcioServer() async throws {
        let (process, stdin, stdout) = try PythonPeer.start("grpcio_health_server.py", ["--port", "0"])
        let line = await PythonPeer.readLine(stdout)
        guard let port = PythonPeer.announcedPort(line) else {
            ChildProcess.kill(process)
            Issue.record("grpcio_health_server.py did not start: \(line)")
            return
        }
        let grpc = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: port))
        let client = HealthClient(wrapping: grpc)
        do {
            #expect(try await client.check() == .serving)
            #expect(try await client.check(service: "svc") == .notServing)
            do {
                _ = try await client.check(service: "missing")
                Issue.record("Check of an unknown service succeeded")
            } catch let error as RPCError {
                #expect(error.code == .notFound)
            }
            let statuses = try await client.watch(service: "svc", options: CallOptions(timeout: .seconds(10)))
            var iterator = statuses.makeAsyncIterator()
            #expect(try await iterator.next() == .notServing)
            stdin.fileHandleForWriting.write(Data("set svc SERVING\n".utf8))
            #expect(try await iterator.next() == .serving)
            statuses.cancel()
            let unknown = try await client.watch(service: "nothing", options: CallOptions(timeout: .seconds(10)))
            var unknownIterator = unknown.makeAsyncIterator()
            #expect(try await unknownIterator.next() == .serviceUnknown)
            unknown.cancel()
        } catch {
            Issue.record("against grpcio's health server: \(error)")
        }
        await grpc.close()
        try? stdin.fileHandleForWriting.close()
        await PythonPeer.blocking {
            for _ in 0..<100 where process.isRunning { usleep(20_000) }
            ChildProcess.kill(process)
        }
    }

    @Test("echo-server and interop-server serve health")
    func executablesServeHealth() async throws {
        for (command, service, stopsOnEOF) in [
            ([InteropPeer.binary("echo-server"), "--port", "0", "--announce-port"], Echo_Echo.serviceName, false),
            ([InteropPeer.binary("interop-server"), "--port", "0", "--announce_port", "--exit_on_stdin_eof"], "grpc.testing.TestService", true),
        ] {
            let server = try await InteropPeer.start(command)
            let grpc = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: server.port))
            let client = HealthClient(wrapping: grpc)
            do {
                #expect(try await client.check() == .serving)
                #expect(try await client.check(service: service) == .serving)
            } catch {
                Issue.record("\(command[0]): \(error)")
            }
            await grpc.close()
            if stopsOnEOF { await server.stop() } else { await server.kill() }
        }
    }
}
