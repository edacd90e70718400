import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterTestSupport
import EchoService
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Everything that must fail does, with UNAVAILABLE and OpenSSL's reason on the client, fast, and without
/// reaching the handler.
@Suite("TLS failures", .timeLimit(.minutes(TestTime.minutes(1))))
struct TLSFailureTests {
    /// Calls `get` and returns the error, checking it is UNAVAILABLE and that the server saw no call.
    private func refused(
        server: TLSServerConfiguration?, client: TLSClientConfiguration?, host: String = "127.0.0.1"
    ) async throws -> RPCError? {
        try await withTLSEcho(server: server, client: client, host: host) { echo, live in
            let started = ContinuousClock.now
            let error = await rpcError { _ = try await echo.get(request("must fail")) }
            #expect(error?.code == .unavailable, "\(String(describing: error))")
            #expect(ContinuousClock.now - started < .seconds(5), "failure was not fast")
            #expect(live.provider.totalCallCount == 0)
            return error
        }
    }

    @Test func expiredServerCertificate() async throws {
        let pki = try await TestPKI.get()
        let error = try await refused(server: pki.server("expired"), client: pki.client())
        #expect(error?.message.contains("certificate has expired") == true, "\(String(describing: error))")
    }

    @Test func untrustedServerCertificate() async throws {
        let pki = try await TestPKI.get()
        let error = try await refused(server: pki.server("other-server"), client: pki.client())
        #expect(error?.message.contains("unable to get local issuer certificate") == true, "\(String(describing: error))")
    }

    @Test func wrongHostForIPAddress() async throws {
        let pki = try await TestPKI.get()
        let error = try await refused(server: pki.server("wrong-host"), client: pki.client())
        #expect(error?.message.contains("IP address mismatch") == true, "\(String(describing: error))")
    }

    @Test func wrongHostForDNSName() async throws {
        let pki = try await TestPKI.get()
        let error = try await refused(server: pki.server("wrong-host"), client: pki.client(), host: "localhost")
        #expect(error?.message.contains("hostname mismatch") == true, "\(String(describing: error))")
    }

    @Test func systemTrustStoreDoesNotTrustTheTestCA() async throws {
        let pki = try await TestPKI.get()
        let error = try await refused(server: pki.server(), client: TLSClientConfiguration())
        #expect(error?.message.contains("certificate verify failed") == true, "\(String(describing: error))")
    }

    @Test func unreadableCABundleOnTheClient() async throws {
        let pki = try await TestPKI.get()
        let missing = pki.directory + "/no-such-ca.pem"
        let client = TLSClientConfiguration(trustRoots: .certificates(.file(missing)))
        let error = try await refused(server: pki.server(), client: client)
        #expect(error?.message.contains(missing) == true, "\(String(describing: error))")
        #expect(error?.message.contains("No such file") == true, "\(String(describing: error))")
    }

    @Test func clientCertificateWithoutKeyIsRejected() async throws {
        let pki = try await TestPKI.get()
        var client = pki.client()
        client.certificateChain = .file(pki.pem("client"))
        let error = try await refused(server: pki.server(), client: client)
        #expect(error?.message.contains("together") == true, "\(String(describing: error))")
    }

    @Test func serverStartFailsOnUnreadableCertificateOrKey() async throws {
        let pki = try await TestPKI.get()
        let missing = pki.directory + "/missing.pem"
        let cases: [(TLSServerConfiguration, String)] = [
            (TLSServerConfiguration(certificateChain: .file(missing), privateKey: .file(pki.key("server"))), missing),
            (TLSServerConfiguration(certificateChain: .file(pki.pem("server")), privateKey: .file(missing)), missing),
            (TLSServerConfiguration(certificateChain: .file(pki.pem("server")), privateKey: .file(pki.key("client"))), "key values mismatch"),
            (TLSServerConfiguration(certificateChain: .string("not a certificate"), privateKey: .file(pki.key("server"))), "no certificate"),
        ]
        for (tls, expected) in cases {
            let transport = HTTP2ServerTransport(host: "127.0.0.1", port: 0, configuration: .init(tls: tls))
            do {
                _ = try await transport.start { _ in }
                Issue.record("start succeeded with \(tls)")
                await transport.shutdownGracefully(gracePeriod: .zero)
            } catch let error as RPCError {
                #expect(error.message.contains(expected), "\(error)")
            }
        }
    }

    @Test func plaintextClientOnTLSPort() async throws {
        let pki = try await TestPKI.get()
        let error = try await refused(server: pki.server(), client: nil)
        #expect(error?.message.contains("TLS") == true, "\(String(describing: error))")
    }

    @Test func tlsClientOnPlaintextPort() async throws {
        let pki = try await TestPKI.get()
        let error = try await refused(server: nil, client: pki.client())
        #expect(error?.message.contains("plaintext") == true, "\(String(describing: error))")
    }

    @Test func stalledHandshakeIsBoundedByTheConnectTimeout() async throws {
        let pki = try await TestPKI.get()
        // A listening socket that never accepts: the TCP connect completes (backlog), the handshake never.
        let (fd, port) = try Self.silentListener()
        defer { Glibc.close(fd) }
        var configuration = HTTP2ClientTransport.Configuration(connectTimeout: .milliseconds(300))
        configuration.tls = pki.client()
        let grpc = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: port, configuration: configuration))
        let echo = Echo_EchoClient(wrapping: grpc)
        let started = ContinuousClock.now
        let error = await rpcError { _ = try await echo.get(request("stalled")) }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("timed out") == true, "\(String(describing: error))")
        #expect(ContinuousClock.now - started < .seconds(5))
        await grpc.close()
    }

    @Test func serverClosesAStalledHandshake() async throws {
        let pki = try await TestPKI.get()
        var tls = pki.server()
        tls.handshakeTimeout = .milliseconds(200)
        try await withTLSEcho(server: tls, client: nil) { _, live in
            // A raw TCP client that never sends a byte: the server must close it.
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { Glibc.close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(live.port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            #expect(rc == 0)
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let started = ContinuousClock.now
            let n = await PythonPeer.blocking { () -> Int in
                var byte: UInt8 = 0
                return recv(fd, &byte, 1, 0)
            }
            #expect(n == 0, "expected EOF from the server")
            #expect(ContinuousClock.now - started < .seconds(4))
        }
    }

    /// A bound, listening IPv4 socket on loopback that nobody accepts from, and its port.
    static func silentListener() throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else {
            Glibc.close(fd)
            throw TestPKI.Failure(description: "cannot listen on loopback")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }
}
