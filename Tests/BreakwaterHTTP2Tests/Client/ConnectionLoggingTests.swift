import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterTestSupport
import Logging
import MetricsTestKit
import Testing

@Suite("Connection life is logged on the transports' loggers", .timeLimit(.minutes(TestTime.minutes(1))))
struct ConnectionLoggingTests {
    @Test("connect, READY, GOAWAY sent and received, close with reason; the peer or target on every line")
    func connectionLife() async throws {
        let serverLog = CapturedLog()
        let clientLog = CapturedLog()
        var serverConfiguration = HTTP2ServerTransport.Configuration()
        serverConfiguration.logger = serverLog.logger()
        var clientConfiguration = HTTP2ClientTransport.Configuration()
        clientConfiguration.logger = clientLog.logger()
        #expect(serverConfiguration == HTTP2ServerTransport.Configuration(), "a logger is not part of equality")

        let server = try await TestServer.start(configuration: serverConfiguration)
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port, configuration: clientConfiguration)
        let result = await TestCalls.call(client, "Echo", [Array("hello".utf8)])
        #expect(result.status.code == .ok)
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
        #expect(await eventually { clientLog.recorded.contains { $0.message == "connection closed" } })
        // The server logs its side's close on its own loop, possibly after the client logged its own.
        #expect(await eventually { serverLog.recorded.contains { $0.message == "connection closed" } })
        await client.close()

        let server_ = serverLog.recorded
        #expect(server_.map(\.message).starts(with: ["connection opened"]))
        #expect(server_.contains { $0.message == "GOAWAY sent" && $0.metadata["reason"] == "shutting down" })
        #expect(server_.allSatisfy { $0.metadata["peer"]?.hasPrefix("ipv4:127.0.0.1:") == true })

        let client_ = clientLog.recorded
        let changes = client_.filter { $0.message == "connectivity changed" }
        #expect(changes.prefix(2).map { $0.metadata["to"] } == ["CONNECTING", "READY"])
        #expect(changes.prefix(2).map(\.level) == [.info, .info])
        #expect(changes.allSatisfy { $0.metadata["target"] == "127.0.0.1:\(server.port)" })
        #expect(client_.contains { $0.message == "GOAWAY received" && $0.level == .debug })
        #expect(changes.last?.metadata["to"] == "SHUTDOWN")
    }

    @Test("with a metrics factory: connectivity transitions and READY connections by target, server connections open and accepted")
    func connectionMetrics() async throws {
        let metrics = TestMetrics()
        var serverConfiguration = HTTP2ServerTransport.Configuration()
        serverConfiguration.metricsFactory = metrics
        var clientConfiguration = HTTP2ClientTransport.Configuration()
        clientConfiguration.metricsFactory = metrics
        let server = try await TestServer.start(configuration: serverConfiguration)
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port, configuration: clientConfiguration)
        let result = await TestCalls.call(client, "Echo", [Array("hello".utf8)])
        #expect(result.status.code == .ok)
        let target = "127.0.0.1:\(server.port)"
        #expect(try metrics.expectMeter("breakwater.server.connections").values.last == 1)
        #expect(try metrics.expectCounter("breakwater.server.connections.accepted").totalValue == 1)
        #expect(try metrics.expectMeter("breakwater.client.connections.ready", [("target", target)]).values.last == 1)
        #expect(
            try metrics.expectCounter(
                "breakwater.client.connectivity.transitions", [("target", target), ("from", "CONNECTING"), ("to", "READY")]
            ).totalValue == 1)
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
        #expect(try metrics.expectMeter("breakwater.client.connections.ready", [("target", target)]).values.last == 0)
        #expect(await eventually { (try? metrics.expectMeter("breakwater.server.connections").values.last) == 0 })
    }

    @Test("by default the transports log nothing")
    func silentByDefault() {
        #expect(HTTP2ClientTransport.Configuration().logger.handler is SwiftLogNoOpLogHandler)
        #expect(HTTP2ServerTransport.Configuration().logger.handler is SwiftLogNoOpLogHandler)
        #expect(HTTP2ClientTransport.Configuration().metricsFactory == nil)
        #expect(HTTP2ServerTransport.Configuration().metricsFactory == nil)
    }
}
