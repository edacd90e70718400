import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterTestSupport
import EchoService
import Foundation
import Testing

/// Interop with grpcio over TLS and mutual TLS, both directions, with the test run's generated CA:
/// grpcio's `ssl_channel_credentials` against our server, our client against grpcio's
/// `ssl_server_credentials`. Never skipped (`scripts/bootstrap.sh` installs grpcio).
@Suite("Interop with grpcio over TLS", .timeLimit(.minutes(TestTime.minutes(2))))
struct GRPCIOTLSInteropTests {
    private static let checks = [
        "get", "expand", "collect", "update-interleaved", "metadata-unary", "metadata-streaming",
        "deadline-exceeded", "large-message-1mib", "unknown-method", "unknown-service", "gzip",
    ]

    /// Runs grpcio's checklist against our echo server over TLS; returns the subjects our server saw.
    private func grpcioChecklist(server: TLSServerConfiguration, clientArguments: [String]) async throws -> [String?] {
        let recorder = PeerRecorder()
        let provider = EchoProvider()
        let server = GRPCServer(
            transport: HTTP2ServerTransport(host: "127.0.0.1", port: 0, configuration: .init(tls: server)),
            services: [provider], interceptors: [recorder])
        let port = try await server.start()
        let (status, output) = try await PythonPeer.run("grpcio_echo_client.py", ["--port", String(port)] + clientArguments)
        await server.shutdownGracefully(gracePeriod: .seconds(2))
        #expect(status == 0, "\(output)")
        #expect(output.contains(" passed, 0 failed"), "\(output)")
        for check in Self.checks {
            #expect(output.contains("ok \(check)\n"), "check \(check) did not pass:\n\(output)")
        }
        return recorder.seen
    }

    @Test func grpcioClientAgainstOurTLSServer() async throws {
        let pki = try await TestPKI.get()
        let seen = try await grpcioChecklist(server: pki.server(), clientArguments: ["--tls-ca", pki.pem("ca")])
        #expect(!seen.isEmpty)
        #expect(seen.allSatisfy { $0 == nil })
    }

    @Test func grpcioClientAgainstOurTLSServerByHostName() async throws {
        let pki = try await TestPKI.get()
        let seen = try await grpcioChecklist(
            server: pki.server(), clientArguments: ["--tls-ca", pki.pem("ca"), "--host", "localhost"])
        #expect(!seen.isEmpty)
    }

    @Test func grpcioClientWithCertificateAgainstOurMutualTLSServer() async throws {
        let pki = try await TestPKI.get()
        let seen = try await grpcioChecklist(
            server: pki.server(clients: .require),
            clientArguments: ["--tls-ca", pki.pem("ca"), "--tls-cert", pki.pem("client"), "--tls-key", pki.key("client")])
        #expect(!seen.isEmpty)
        #expect(seen.allSatisfy { $0 == TestPKI.clientSubject }, "\(seen)")
    }

    @Test func grpcioClientWithoutCertificateIsRefusedByOurMutualTLSServer() async throws {
        let pki = try await TestPKI.get()
        let provider = EchoProvider()
        let server = GRPCServer(
            transport: HTTP2ServerTransport(host: "127.0.0.1", port: 0, configuration: .init(tls: pki.server(clients: .require))),
            services: [provider])
        let port = try await server.start()
        let (status, output) = try await PythonPeer.run(
            "grpcio_echo_client.py", ["--port", String(port), "--tls-ca", pki.pem("ca"), "--only", "get", "--connect-timeout", "2"])
        await server.shutdownGracefully(gracePeriod: .seconds(2))
        #expect(status != 0, "\(output)")
        #expect(output.contains("FAIL connect"), "\(output)")
        #expect(provider.totalCallCount == 0)
    }

    @Test func ourClientAgainstGrpcioTLSServer() async throws {
        let pki = try await TestPKI.get()
        let peer = try await PythonPeer.Server(arguments: ["--tls-cert", pki.pem("server"), "--tls-key", pki.key("server")])
        let grpc = GRPCClient(
            transport: HTTP2ClientTransport(host: "127.0.0.1", port: peer.port, configuration: .init(tls: pki.client())))
        do {
            try await GRPCIOEchoInteropTests.checklist(Echo_EchoClient(wrapping: grpc))
        } catch {
            Issue.record("against grpcio over TLS: \(error)")
        }
        await grpc.close()
        await peer.stop()
    }

    @Test func ourClientWithCertificateAgainstGrpcioMutualTLSServer() async throws {
        let pki = try await TestPKI.get()
        let peer = try await PythonPeer.Server(arguments: [
            "--tls-cert", pki.pem("server"), "--tls-key", pki.key("server"), "--tls-ca", pki.pem("ca"),
            "--tls-require-client-auth",
        ])
        let grpc = GRPCClient(
            transport: HTTP2ClientTransport(
                host: "localhost", port: peer.port, configuration: .init(tls: pki.client(certificate: "client"))))
        do {
            try await GRPCIOEchoInteropTests.checklist(Echo_EchoClient(wrapping: grpc))
        } catch {
            Issue.record("against grpcio over mutual TLS: \(error)")
        }
        await grpc.close()

        // Without a certificate the grpcio server refuses the handshake: UNAVAILABLE with the reason.
        let anonymous = GRPCClient(
            transport: HTTP2ClientTransport(host: "127.0.0.1", port: peer.port, configuration: .init(tls: pki.client())))
        let error = await rpcError { _ = try await Echo_EchoClient(wrapping: anonymous).get(request("no cert")) }
        #expect(error?.code == .unavailable, "\(String(describing: error))")
        #expect(error?.message.contains("client certificate") == true, "\(String(describing: error))")
        await anonymous.close()
        await peer.stop()
    }

    @Test func ourClientRefusesGrpcioServerWithUntrustedCertificate() async throws {
        let pki = try await TestPKI.get()
        let peer = try await PythonPeer.Server(arguments: ["--tls-cert", pki.pem("other-server"), "--tls-key", pki.key("other-server")])
        let grpc = GRPCClient(
            transport: HTTP2ClientTransport(host: "127.0.0.1", port: peer.port, configuration: .init(tls: pki.client())))
        let error = await rpcError { _ = try await Echo_EchoClient(wrapping: grpc).get(request("untrusted")) }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("unable to get local issuer certificate") == true, "\(String(describing: error))")
        await grpc.close()
        await peer.stop()
    }
}
