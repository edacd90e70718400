import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterTestSupport
import EchoService
import Testing

/// Our client and our server over TLS on loopback: the four call kinds, large messages, many streams.
@Suite("Echo over TLS", .timeLimit(.minutes(TestTime.minutes(1))))
struct EchoOverTLSTests {
    @Test func allFourCallKinds() async throws {
        let pki = try await TestPKI.get()
        try await withTLSEcho(server: pki.server(), client: pki.client()) { echo, live in
            let reply = try await echo.get(request("hello tls"))
            #expect(reply.text == "hello tls")

            var words: [String] = []
            for try await r in try await echo.expand(request("one two three")) { words.append(r.text) }
            #expect(words == ["one", "two", "three"])

            let joined = try await echo.collect { writer in
                for w in ["alpha", "beta", "gamma"] { try await writer.write(request(w)) }
            }
            #expect(joined.text == "alpha beta gamma")

            let (requests, continuation) = AsyncStream.makeStream(of: Echo_EchoRequest.self)
            continuation.yield(request("m0"))
            var echoed: [String] = []
            for try await r in try await echo.update(requests) {
                echoed.append(r.text)
                if echoed.count == 5 { continuation.finish() } else { continuation.yield(request("m\(echoed.count)")) }
            }
            #expect(echoed == ["m0", "m1", "m2", "m3", "m4"])
            #expect(live.provider.totalCallCount == 4)
        }
    }

    @Test func certificatesAndKeysAsPEMBytes() async throws {
        let pki = try await TestPKI.get()
        let server = TLSServerConfiguration(
            certificateChain: .bytes(try pki.bytes(pki.pem("server"))), privateKey: .bytes(try pki.bytes(pki.key("server"))))
        let client = TLSClientConfiguration(trustRoots: .certificates(.bytes(try pki.bytes(pki.pem("ca")))))
        try await withTLSEcho(server: server, client: client) { echo, _ in
            let reply = try await echo.get(request("from bytes"))
            #expect(reply.text == "from bytes")
        }
    }

    @Test func hostNameVerifiedAgainstDNSName() async throws {
        let pki = try await TestPKI.get()
        try await withTLSEcho(server: pki.server(), client: pki.client(), host: "localhost") { echo, _ in
            let reply = try await echo.get(request("by name"))
            #expect(reply.text == "by name")
        }
    }

    @Test func largeMessagesBothWays() async throws {
        let pki = try await TestPKI.get()
        try await withTLSEcho(server: pki.server(), client: pki.client()) { echo, _ in
            let big = String(repeating: "0123456789abcdef", count: 4_000_000 / 16)
            let echoed = try await echo.get(request(big))
            #expect(echoed.text.count == big.count)
            #expect(echoed.text == big)
            var total = 0
            let words = String(repeating: String(repeating: "w", count: 100_000) + " ", count: 30)
            for try await r in try await echo.expand(request(words)) { total += r.text.count }
            #expect(total == 3_000_000)
        }
    }

    @Test func twoHundredConcurrentStreams() async throws {
        let pki = try await TestPKI.get()
        try await withTLSEcho(server: pki.server(), client: pki.client()) { echo, live in
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<200 {
                    group.addTask {
                        var words: [String] = []
                        for try await r in try await echo.expand(request("s\(i) a b")) { words.append(r.text) }
                        return words == ["s\(i)", "a", "b"]
                    }
                }
                var ok = 0
                for try await good in group where good { ok += 1 }
                #expect(ok == 200)
            }
            #expect(live.provider.callCount(.expand) == 200)
        }
    }

    @Test func insecureSkipVerificationAcceptsAnUntrustedServer() async throws {
        let pki = try await TestPKI.get()
        let client = TLSClientConfiguration(verification: .insecureSkipVerification_DEVELOPMENT_ONLY)
        try await withTLSEcho(server: pki.server("other-server"), client: client) { echo, _ in
            let reply = try await echo.get(request("unverified"))
            #expect(reply.text == "unverified")
        }
    }

    @Test func serverHostnameOverrideIsSentAndChecked() async throws {
        let pki = try await TestPKI.get()
        try await withTLSEcho(server: pki.server("wrong-host"), client: pki.client(serverHostname: "wrong.example.com")) { echo, _ in
            let reply = try await echo.get(request("override"))
            #expect(reply.text == "override")
        }
    }
}

