import BreakwaterCore
import BreakwaterTestSupport
import BreakwaterWire
import Foundation
import Testing
@testable import BreakwaterHTTP2

/// A hostile server against our real client: what it sends must fail the call with a clear status,
/// at the cost of the bytes on the wire.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct MaliciousServerTests {
    @Test func aServerAnsweringWithAnHPACKBombFailsTheCallWithResourceExhausted() async throws {
        let bombs = try RawServer { c in
            c.skip(RawFrames.preface.count)
            c.write(RawFrames.settings())
            guard c.readUntil({ $0.kind == RawFrames.Kind.headers.rawValue }) != nil else { return }
            // :status 200 (static 8), then the bomb.
            let block = RawFrames.bomb(after: [0x88] + RawFrames.literal("content-type", "application/grpc"), count: 40_000)
            c.write(RawFrames.headerFrames(stream: 1, block, endStream: false))
            _ = c.readToEnd()
        }
        defer { bombs.stop() }
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: bombs.port)
        let result = await TestCalls.call(client, "Echo", [[1]], deadline: .now + .seconds(5))
        #expect(result.status.code == .resourceExhausted, "\(result.status)")
        #expect(result.headers == nil)
        await client.close()
    }

    @Test func aServerAnsweringWithTooManyMetadataEntriesFailsTheCall() async throws {
        let chatty = try RawServer { c in
            c.skip(RawFrames.preface.count)
            c.write(RawFrames.settings())
            guard c.readUntil({ $0.kind == RawFrames.Kind.headers.rawValue }) != nil else { return }
            var block: [UInt8] = [0x88] + RawFrames.literal("content-type", "application/grpc")
            for i in 0..<2000 { block += RawFrames.literal("x-m\(i)", "v") }
            c.write(RawFrames.headerFrames(stream: 1, block, endStream: false))
            _ = c.readToEnd()
        }
        defer { chatty.stop() }
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: chatty.port)
        let result = await TestCalls.call(client, "Echo", [[1]], deadline: .now + .seconds(5))
        #expect(result.status.code == .resourceExhausted, "\(result.status)")
        await client.close()
    }
}
