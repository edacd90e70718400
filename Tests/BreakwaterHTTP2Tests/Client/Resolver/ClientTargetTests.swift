import BreakwaterCore
import Testing
@testable import BreakwaterHTTP2

/// gRPC's target syntax, parsed without any I/O.
@Suite struct ClientTargetTests {
    func endpoints(_ text: String) throws -> [Endpoint] {
        let target = try ClientTarget(text)
        let resolver = try #require(target.resolver as? StaticResolver)
        return resolver.endpoints
    }

    @Test func ipv4ListsGiveOneEndpointPerAddress() throws {
        #expect(
            try endpoints("ipv4:127.0.0.1:5001,127.0.0.2:5002,127.0.0.3:5003") == [
                Endpoint(host: "127.0.0.1", port: 5001), Endpoint(host: "127.0.0.2", port: 5002),
                Endpoint(host: "127.0.0.3", port: 5003),
            ])
        #expect(try endpoints("ipv4:10.0.0.1") == [Endpoint(host: "10.0.0.1", port: 443)])
        #expect(try ClientTarget("ipv4:127.0.0.1:5001,127.0.0.2:5002").authority == "127.0.0.1:5001")
    }

    @Test func ipv6ListsTakeBracketsAndBareAddresses() throws {
        #expect(try endpoints("ipv6:[::1]:5001,[fe80::1]:5002") == [Endpoint(host: "::1", port: 5001), Endpoint(host: "fe80::1", port: 5002)])
        #expect(try endpoints("ipv6:::1") == [Endpoint(host: "::1", port: 443)])
        #expect(Endpoint(host: "::1", port: 5001).description == "[::1]:5001")
    }

    @Test func unixTargets() throws {
        #expect(try endpoints("unix:/tmp/echo.sock") == [Endpoint(.unix(path: "/tmp/echo.sock"))])
        #expect(try endpoints("unix:///tmp/echo.sock") == [Endpoint(.unix(path: "/tmp/echo.sock"))])
        #expect(try endpoints("unix:relative.sock") == [Endpoint(.unix(path: "relative.sock"))])
        #expect(try endpoints("unix-abstract:echo") == [Endpoint(.unixAbstract(name: "echo"))])
        #expect(try ClientTarget("unix:/tmp/echo.sock").authority == "localhost")
    }

    @Test func dnsTargetsAndPlainHostPort() throws {
        for text in ["dns:///localhost:50051", "dns:localhost:50051", "localhost:50051"] {
            let target = try ClientTarget(text)
            let dns = try #require(target.resolver as? DNSResolver<ContinuousClock>, "\(text)")
            #expect(dns.host == "localhost" && dns.port == 50051)
            #expect(dns.minimumResolutionInterval == .seconds(30))
            #expect(target.authority == "localhost:50051")
            #expect(target.tlsHostname == "localhost")
        }
        let v6 = try #require(try ClientTarget("dns:///[::1]:7").resolver as? DNSResolver<ContinuousClock>)
        #expect(v6.host == "[::1]" && v6.port == 7)
        #expect(try ClientTarget("dns:///[::1]:7").tlsHostname == "::1")
    }

    @Test(arguments: [
        ("ipv4:127.0.0.1:99999", "port \"99999\" is not in 0...65535"),
        ("ipv4:::1", "an IPv6 address needs brackets"),
        ("ipv4:localhost:80", "is not an IPv4 address"),
        ("ipv6:[::1]:80,127.0.0.1:80", "is not an IPv6 address"),
        ("dns://8.8.8.8/example.com:443", "a DNS server authority is not supported"),
        ("xds:///echo", "unknown scheme"),
        ("unix:", "not a usable socket path"),
        ("unix://relative", "needs an absolute path"),
        ("ipv4:", "no host"),
    ])
    func invalidTargetsAreRejectedWithTheirReason(text: String, reason: String) {
        do {
            _ = try ClientTarget(text)
            Issue.record("\(text) parsed")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains(reason), "\(error.message)")
        }
    }
}
