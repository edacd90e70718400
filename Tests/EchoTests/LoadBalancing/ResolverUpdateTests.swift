import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterTestSupport
import EchoService
import Foundation
import Synchronization
import Testing

/// A resolver of the test's own (a registry stand-in) changes the endpoint list while calls run.
@Suite("Resolutions that change", .serialized, .timeLimit(.minutes(TestTime.minutes(1))))
struct ResolverUpdateTests {
    /// Yields whatever the test pushes; counts the transport's re-resolution requests.
    final class Registry: NameResolver {
        let stream: AsyncStream<NameResolution>
        let continuation: AsyncStream<NameResolution>.Continuation
        let requests = Counter()

        init() {
            (stream, continuation) = AsyncStream<NameResolution>.makeStream()
        }

        func resolutions() -> AsyncStream<NameResolution> { stream }
        func requestResolution() { requests.increment() }
        func publish(_ servers: [LiveEchoServer], hosts: [String]) {
            continuation.yield(NameResolution(endpoints: zip(hosts, servers).map { Endpoint(host: $0, port: $1.port) }))
        }
    }

    final class Counter: Sendable {
        let value = Atomic(0)
        func increment() { value.add(1, ordering: .relaxed) }
        var count: Int { value.load(ordering: .relaxed) }
    }

    @Test("a new list adds endpoints and drains the ones gone: a call in flight on a removed one finishes")
    func addAndDrain() async throws {
        let hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
        var servers: [LiveEchoServer] = []
        for host in hosts { servers.append(try await LiveEchoServer.start(host: host)) }
        let registry = Registry()
        registry.publish(Array(servers[0..<2]), hosts: Array(hosts[0..<2]))
        let transport = HTTP2ClientTransport(target: .resolver(registry, authority: "echo"), loadBalancing: .roundRobin)
        let events = transport.endpointEvents()
        let grpc = GRPCClient(transport: transport)
        let echo = Echo_EchoClient(wrapping: grpc)
        for _ in 0..<10 { _ = try await echo.get(request("x")) }
        #expect(servers[0].provider.totalCallCount + servers[1].provider.totalCallCount == 10)

        // A streaming call that stays open on whichever endpoint it got, across the update.
        let (words, writer) = AsyncStream<Echo_EchoRequest>.makeStream()
        let inFlight = Task { try await echo.collect(words) }
        writer.yield(request("still"))
        try await Task.sleep(for: .milliseconds(50))
        // The registry now says: B and C (A is gone).
        registry.publish(Array(servers[1..<3]), hosts: Array(hosts[1..<3]))
        var sawRemoval = false
        var sawAddition = false
        for await event in events {
            if case .removed = event.kind, event.endpoint.description == "127.0.0.1:\(servers[0].port)" { sawRemoval = true }
            if case .added = event.kind, event.endpoint.description == "127.0.0.3:\(servers[2].port)" { sawAddition = true }
            if sawRemoval && sawAddition { break }
        }
        #expect(sawRemoval && sawAddition)
        writer.yield(request("here"))
        writer.finish()
        #expect(try await inFlight.value.text == "still here", "the call in flight finishes, wherever it was")
        // Round robin picks among READY endpoints only: let the added one finish connecting, or the first
        // calls all go to the one already there.
        for _ in 0..<500 {
            if await transport.endpointSnapshots().allSatisfy({ $0.connectivity == .ready }) { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        let before = servers.map(\.provider.totalCallCount)
        for _ in 0..<20 { _ = try await echo.get(request("y")) }
        let after = zip(servers, before).map { $0.provider.totalCallCount - $1 }
        #expect(after == [0, 10, 10], "\(after)")
        #expect(await transport.endpointSnapshots().map(\.endpoint.description) == ["127.0.0.2:\(servers[1].port)", "127.0.0.3:\(servers[2].port)"])

        // A server that goes away makes the transport ask the registry to look again.
        await servers[2].stop()
        for _ in 0..<500 where registry.requests.count == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(registry.requests.count > 0)
        await grpc.close()
        for server in servers.prefix(2) { await server.stop() }
    }
}
