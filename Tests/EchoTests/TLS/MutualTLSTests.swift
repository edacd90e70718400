import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterTestSupport
import EchoService
import Testing

/// Client certificates: required, requested, refused; the subject reaches the server's call context.
@Suite("Mutual TLS", .timeLimit(.minutes(TestTime.minutes(1))))
struct MutualTLSTests {
    @Test func requiredClientCertificateAcceptedAndSeenByTheServer() async throws {
        let pki = try await TestPKI.get()
        let recorder = PeerRecorder()
        try await withTLSEcho(
            server: pki.server(clients: .require), client: pki.client(certificate: "client"), interceptors: [recorder]
        ) { echo, _ in
            let reply = try await echo.get(request("mtls"))
            #expect(reply.text == "mtls")
            var words: [String] = []
            for try await r in try await echo.expand(request("x y")) { words.append(r.text) }
            #expect(words == ["x", "y"])
        }
        #expect(recorder.seen == [TestPKI.clientSubject, TestPKI.clientSubject])
    }

    @Test func requiredClientCertificateMissingIsRefused() async throws {
        let pki = try await TestPKI.get()
        try await withTLSEcho(server: pki.server(clients: .require), client: pki.client()) { echo, live in
            let error = await rpcError { _ = try await echo.get(request("no cert")) }
            #expect(error?.code == .unavailable)
            #expect(error?.message.contains("certificate required") == true, "\(String(describing: error))")
            #expect(live.provider.totalCallCount == 0)
        }
    }

    @Test func clientCertificateFromAnotherCAIsRefused() async throws {
        let pki = try await TestPKI.get()
        try await withTLSEcho(server: pki.server(clients: .require), client: pki.client(certificate: "other-client")) { echo, live in
            let error = await rpcError { _ = try await echo.get(request("intruder")) }
            #expect(error?.code == .unavailable)
            #expect(error?.message.contains("unknown ca") == true, "\(String(describing: error))")
            #expect(live.provider.totalCallCount == 0)
        }
    }

    @Test func requestedClientCertificateIsOptional() async throws {
        let pki = try await TestPKI.get()
        let recorder = PeerRecorder()
        try await withTLSEcho(server: pki.server(clients: .request), client: pki.client(), interceptors: [recorder]) { echo, _ in
            let reply = try await echo.get(request("anonymous"))
            #expect(reply.text == "anonymous")
        }
        try await withTLSEcho(
            server: pki.server(clients: .request), client: pki.client(certificate: "client"), interceptors: [recorder]
        ) { echo, _ in
            let reply = try await echo.get(request("known"))
            #expect(reply.text == "known")
        }
        #expect(recorder.seen == [nil, TestPKI.clientSubject])
    }

    @Test func plaintextCallsHaveNoPeerCertificate() async throws {
        let recorder = PeerRecorder()
        try await withTLSEcho(server: nil, client: nil, interceptors: [recorder]) { echo, _ in
            let reply = try await echo.get(request("plain"))
            #expect(reply.text == "plain")
        }
        #expect(recorder.seen == [nil])
    }
}
