import BenchSupport
import EchoService
import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterResilience

/// An echo server in this process and a typed client to it, bare or behind the chain.
final class EchoFixture: Sendable {
    /// How client and server are connected.
    enum Link: String, Sendable {
        /// `InProcessTransport`.
        case inProcess = "in-process"
        /// HTTP/2 over loopback TCP (`HTTP2ServerTransport` on 127.0.0.1:0, one `HTTP2ClientTransport`).
        case http2 = "HTTP/2"
        /// `InstantTransport`: no server, the call answered in the caller's task, so that what a call
        /// costs is the client's call path alone (the yardstick for the chain's own work).
        case instant
    }

    /// `nil` over `InstantTransport`.
    let server: GRPCServer?
    let echo: Echo_EchoClient
    let target: String
    let resilience: ResilienceConfiguration?
    let request = Echo_EchoRequest.with { $0.text = "breakwater-bench" }

    /// Starts the server; `chain`: put the standard resilience chain in front of the client;
    /// `deadline`: give bare calls the same 30 s deadline the chain gives them.
    init(_ link: Link, chain: Bool, faults: EchoProvider.Faults = .none, deadline: Bool = false) async throws {
        let provider = EchoProvider(faults: faults)
        let client: any ClientTransport
        switch link {
        case .inProcess:
            let transport = InProcessTransport()
            let inProcess = GRPCServer(transport: transport.server, services: [provider])
            _ = try await inProcess.start()
            server = inProcess
            client = transport.client
            target = "in-process"
        case .http2:
            let http2 = GRPCServer(transport: HTTP2ServerTransport(host: "127.0.0.1", port: 0), services: [provider])
            let port = try await http2.start()
            server = http2
            client = HTTP2ClientTransport(host: "127.0.0.1", port: port)
            target = "127.0.0.1:\(port)"
        case .instant:
            server = nil
            client = InstantTransport()
            target = "instant"
        }
        let options = deadline ? CallOptions(timeout: .seconds(30)) : .defaults
        if chain {
            let resilience = try ResilienceConfiguration.serviceConfig(json: standardChainServiceConfig, target: target)
            self.resilience = resilience
            echo = Echo_EchoClient(wrapping: GRPCClient(transport: client, resilience: resilience, defaultOptions: options))
        } else {
            resilience = nil
            echo = Echo_EchoClient(wrapping: GRPCClient(transport: client, defaultOptions: options))
        }
    }

    /// The chain's breaker of `Get`.
    var getBreaker: CircuitBreaker? {
        resilience?.registry.existingBreaker(
            for: BreakerKey(target: target, method: Echo_Echo.Method.Get.descriptor, scope: .method))
    }

    /// One `Get`; true when it echoed the text.
    func get() async -> Bool {
        (try? await echo.get(request))?.text == request.text
    }

    func stop() async {
        await server?.shutdownGracefully(gracePeriod: .milliseconds(100))
    }
}

/// `count` gRPC length-prefixed messages of `size` bytes each, back to back.
func framedMessages(size: Int, count: Int) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity((size + 5) * count)
    let prefix: [UInt8] = [0, UInt8(size >> 24 & 0xff), UInt8(size >> 16 & 0xff), UInt8(size >> 8 & 0xff), UInt8(size & 0xff)]
    for i in 0..<count {
        bytes += prefix
        bytes += repeatElement(UInt8(truncatingIfNeeded: i), count: size)
    }
    return bytes
}
