import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterTestSupport
import EchoService
import Foundation
import Testing

/// `echo-server --idle-poll-us`, the example server's switch for loops that poll before they sleep, as a
/// real process.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct EchoServerIdlePollTests {
    @Test func servesWithLoopsThatPoll() async throws {
        let server = try await InteropPeer.start([InteropPeer.binary("echo-server"), "--port", "0", "--announce-port", "--idle-poll-us", "50"])
        // The client's loops poll too.
        let group = EventLoopGroup(numberOfLoops: 1, namePrefix: "bw-idle-echo", idlePoll: .microseconds(50))
        let grpc = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: server.port, group: group))
        let client = Echo_EchoClient(wrapping: grpc)
        do {
            for i in 0..<20 { #expect(try await client.get(request("hello \(i)")).text == "hello \(i)") }
            let stream = try await client.expand(request("the quick brown fox"))
            var words: [String] = []
            for try await response in stream { words.append(response.text) }
            #expect(words == ["the", "quick", "brown", "fox"])
        } catch {
            Issue.record("echo-server --idle-poll-us 50: \(error)")
        }
        await grpc.close()
        await group.shutdownGracefully()
        await server.kill()
    }

    @Test func refusesABudgetOverOneMillisecond() async throws {
        let (process, _, output) = try PythonPeer.launch([InteropPeer.binary("echo-server"), "--port", "0", "--idle-poll-us", "5000"])
        let line = await PythonPeer.readLine(output)
        await PythonPeer.blocking { process.waitUntilExit() }
        #expect(process.terminationStatus != 0)
        #expect(line.contains("--idle-poll-us must be in 0...1000, got 5000"), "\(line)")
    }
}
