import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterTestSupport
import EchoService
import Foundation
import Testing

/// The protocol edges, against Python's `ssl` module (Tests/Interop/tls_probe.py): ALPN h2 is required
/// both ways, TLS 1.2 is the floor, TLS 1.3 is preferred.
@Suite("TLS protocol versions and ALPN", .timeLimit(.minutes(TestTime.minutes(1))))
struct TLSProtocolTests {
    /// Runs one probe handshake against a live TLS echo server and returns its result line.
    private func probe(_ arguments: [String]) async throws -> String {
        let pki = try await TestPKI.get()
        return try await withTLSEcho(server: pki.server(), client: nil) { _, live in
            let (_, output) = try await PythonPeer.run(
                "tls_probe.py", ["client", "--port", String(live.port), "--ca", pki.pem("ca")] + arguments)
            return output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    @Test func tls13PreferredWithH2() async throws {
        let line = try await probe(["--alpn", "h2", "--alpn", "http/1.1"])
        #expect(line == "handshake ok alpn=h2 version=TLSv1.3")
    }

    @Test func tls12Accepted() async throws {
        let line = try await probe(["--alpn", "h2", "--max-version", "TLSv1_2"])
        #expect(line == "handshake ok alpn=h2 version=TLSv1.2")
    }

    /// A TLS 1.2 client asking to renegotiate (`R` in `openssl s_client`) is refused with OpenSSL's
    /// "no renegotiation" alert (TLS 1.3 has no renegotiation at all).
    @Test func tls12RenegotiationRefused() async throws {
        let pki = try await TestPKI.get()
        let output = try await withTLSEcho(server: pki.server(), client: nil) { _, live in
            // s_client reads stdin only once its handshake is done; the pause keeps stdin open until the
            // server has answered the renegotiation request (a safety margin, not what is asserted).
            let script = "(printf 'R\\n'; sleep 2) | openssl s_client -connect 127.0.0.1:\(live.port) -tls1_2 -alpn h2 -CAfile '\(pki.pem("ca"))' 2>&1"
            return try await PythonPeer.runCommand(["sh", "-c", script]).output
        }
        #expect(output.contains("Protocol  : TLSv1.2"), "\(output)")
        #expect(output.contains("RENEGOTIATING"), "\(output)")
        #expect(output.contains("no renegotiation"), "\(output)")
    }

    @Test func tls11Refused() async throws {
        let line = try await probe(["--alpn", "h2", "--max-version", "TLSv1_1"])
        #expect(line.hasPrefix("handshake failed:"), "\(line)")
    }

    @Test func clientWithoutH2IsRefusedByOurServer() async throws {
        let line = try await probe(["--alpn", "http/1.1"])
        #expect(line.hasPrefix("handshake failed:"), "\(line)")
        #expect(line.contains("no application protocol"), "\(line)")
    }

    @Test func serverSendsCloseNotifyWhenItClosesTheConnection() async throws {
        let pki = try await TestPKI.get()
        let provider = EchoProvider()
        let server = GRPCServer(
            transport: HTTP2ServerTransport(host: "127.0.0.1", port: 0, configuration: .init(tls: pki.server())),
            services: [provider])
        let port = try await server.start()
        let (process, stdin, stdout) = try PythonPeer.start(
            "tls_probe.py", ["client", "--port", String(port), "--ca", pki.pem("ca"), "--alpn", "h2", "--read-until-close"])
        try? stdin.fileHandleForWriting.close()
        let first = await PythonPeer.readLine(stdout)
        #expect(first.hasPrefix("handshake ok alpn=h2"), "\(first)")
        // The probe speaks no HTTP/2, so the graceful shutdown ends with the grace period: the server then
        // closes the connection, with close_notify.
        await server.shutdownGracefully(gracePeriod: .milliseconds(200))
        let rest = await PythonPeer.blocking { () -> String in
            let data = stdout.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        #expect(rest.contains("closed with close_notify"), "\(rest)")
    }

    @Test func serverWithoutH2IsRefusedByOurClient() async throws {
        let pki = try await TestPKI.get()
        let (process, stdin, stdout) = try PythonPeer.start(
            "tls_probe.py", ["server", "--cert", pki.pem("server"), "--key", pki.key("server"), "--alpn", "http/1.1"])
        let line = await PythonPeer.readLine(stdout)
        guard let port = PythonPeer.announcedPort(line) else {
            ChildProcess.kill(process)
            Issue.record("tls_probe.py server did not start: \(line)")
            return
        }
        let grpc = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: port, configuration: .init(tls: pki.client())))
        let error = await rpcError { _ = try await Echo_EchoClient(wrapping: grpc).get(request("no h2")) }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("ALPN protocol h2") == true, "\(String(describing: error))")
        await grpc.close()
        try? stdin.fileHandleForWriting.close()
        await PythonPeer.blocking { process.waitUntilExit() }
    }
}
