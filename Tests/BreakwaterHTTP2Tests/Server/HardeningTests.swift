@_spi(Locking) import BreakwaterCore
import BreakwaterWire
import BreakwaterTestSupport
import Foundation
import Synchronization
import Testing
@testable import BreakwaterHTTP2
#if canImport(Glibc)
import Glibc
#endif

/// Hostile peers against our real server (and a hostile server against our real client), on loopback,
/// with raw frames: what each attack costs must stay bounded, and everyone else must still be served.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct HardeningTests {
    static let cancelCode = StatusMapping.HTTP2ErrorCode.cancel.rawValue
    static let refused = StatusMapping.HTTP2ErrorCode.refusedStream.rawValue
    static let calm = StatusMapping.HTTP2ErrorCode.enhanceYourCalm.rawValue
    static let maxConcurrentStreamsID: UInt16 = 0x3

    /// An unrelated call still works.
    static func expectServed(_ port: Int, sourceLocation: SourceLocation = #_sourceLocation) async {
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: port)
        let ok = await TestCalls.call(client, "Echo", [[1, 2, 3]], deadline: .now + .seconds(5))
        #expect(ok.status.code == .ok, "\(ok.status)", sourceLocation: sourceLocation)
        await client.close()
    }

    // MARK: Signals

    @Test func peersThatVanishMidWriteCostTheirConnectionNotTheProcess() async throws {
        // The default disposition, whatever the test runner set: a SIGPIPE would end this process.
        signal(SIGPIPE, SIG_DFL)
        let server = try await TestServer.start()
        try await offPool {
            for _ in 0..<20 {
                let c = try RawConnection(port: server.port)
                c.write(RawFrames.preface + RawFrames.settings())
                c.abort()
            }
            // A reader that asks for 200 x 64 KiB and resets after the first bytes.
            for _ in 0..<3 {
                let c = try RawConnection(port: server.port)
                c.handshake()
                c.write(RawFrames.headerFrames(stream: 1, RawFrames.request("/test.Echo/Flood"), endStream: false))
                c.write(RawFrames.message(stream: 1, [1], endStream: true))
                _ = c.readUntil { $0.kind == RawFrames.Kind.data.rawValue }
                c.abort()
            }
        }
        await Self.expectServed(server.port)
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    // MARK: Streams over the limit

    @Test func aStreamOverTheLimitIsRefusedAndTheConnectionGoesOn() async throws {
        let server = try await TestServer.start(configuration: .init(maxConcurrentStreams: 2))
        let (advertised, refused, goAway, pong) = try await offPool { () throws -> (UInt32?, RawFrame?, Bool, Bool) in
            let c = try RawConnection(port: server.port)
            let settings = c.handshake()
            for stream in [UInt32(1), 3, 5] {
                c.write(RawFrames.headerFrames(stream: stream, RawFrames.request("/test.Echo/Hang"), endStream: false))
            }
            let refused = c.readUntil { $0.kind == RawFrames.Kind.rstStream.rawValue || $0.isGoAway }
            c.write(RawFrames.frame(.ping, payload: [1, 2, 3, 4, 5, 6, 7, 8]))
            let pong = c.readUntil { $0.kind == RawFrames.Kind.ping.rawValue && $0.flags & 1 == 1 || $0.isGoAway }
            return (settings?[Self.maxConcurrentStreamsID], refused, refused?.isGoAway ?? true, pong.map { !$0.isGoAway } ?? false)
        }
        #expect(advertised == 2)
        #expect(!goAway)
        #expect(refused?.stream == 5)
        #expect(refused?.errorCode == Self.refused)
        #expect(pong, "the connection must stay open")
        await Self.expectServed(server.port)
        await server.transport.shutdownGracefully(gracePeriod: .milliseconds(100))
    }

    // MARK: Header blocks

    @Test func anHPACKBombIsAbandonedAtTheHeaderListLimit() async throws {
        let server = try await TestServer.start()
        let (reset, alive, cpu) = try await offPool { () throws -> (RawFrame?, Bool, Double) in
            let c = try RawConnection(port: server.port)
            c.handshake()
            let before = Self.processCPUSeconds()
            // 16,000 references to a 4 KB entry: 64 MB of fields from 20 KB on the wire, three times.
            for stream in [UInt32(1), 3, 5] {
                let block = RawFrames.bomb(after: RawFrames.request("/test.Echo/Echo"), count: 16_000)
                c.write(RawFrames.headerFrames(stream: stream, block, endStream: true))
            }
            var resets: [RawFrame] = []
            while resets.count < 3, let f = c.readUntil({ $0.kind == RawFrames.Kind.rstStream.rawValue || $0.isGoAway }) {
                if f.isGoAway { break }
                resets.append(f)
            }
            c.write(RawFrames.frame(.ping, payload: [8, 7, 6, 5, 4, 3, 2, 1]))
            let pong = c.readUntil { $0.kind == RawFrames.Kind.ping.rawValue && $0.flags & 1 == 1 }
            return (resets.count == 3 ? resets.last : nil, pong != nil, Self.processCPUSeconds() - before)
        }
        #expect(reset?.errorCode == Self.calm, "each bomb's stream is reset with ENHANCE_YOUR_CALM")
        #expect(alive)
        // Decoded, the three blocks are 190 MB of fields; abandoned at 16 KiB they cost next to nothing.
        #expect(cpu < 0.5, "\(cpu) s of CPU for three bombs")
        await Self.expectServed(server.port)
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    // MARK: Memory

    @Test func compressedMessagesAreHeldAtTheirWireSize() async throws {
        let server = try await TestServer.start()
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        // 4 MB of zeros gzip to about 4 KB; the handler never reads.
        let head = ClientRequestHead(method: TestCalls.method("Stall"), compression: .gzip)
        let stream = await client.makeStream(head: head)
        let bomb = [UInt8](repeating: 0, count: 4 * 1024 * 1024 - 16)
        let rssBefore = Self.residentBytes()
        let sent = Counter()
        let sender = Task {
            for _ in 0..<2000 {
                do { try await stream.send(bomb, endStream: false) } catch { return }
                sent.increment()
            }
        }
        // Flow control stops the sender once the server holds its budget: wait until it is stuck.
        await sent.waitUntilSettled()
        let held = sent.value
        let growth = Self.residentBytes() - rssBefore
        let heldByServer = server.transport.heldReceiveBytes
        stream.cancel()
        sender.cancel()
        _ = await sender.value
        // Every byte leaves the budget with the stream, while the connection stays open.
        #expect(await eventually { server.transport.heldReceiveBytes == 0 }, "\(server.transport.heldReceiveBytes) bytes still counted")
        // Inflated on arrival, the messages would be held at 4 MB each (GBs for what was sent).
        #expect(held < 2000, "the sender must be throttled")
        #expect(growth < 128 << 20, "RSS grew by \(growth >> 20) MB holding \(held) messages")
        #expect(heldByServer > 0 && heldByServer <= (16 << 20) + (8 << 20), "\(heldByServer) bytes held")
        await client.close()
        await Self.expectServed(server.port)
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func aMessageThatInflatesPastTheLimitEndsTheCallWhenRead() async throws {
        let server = try await TestServer.start(configuration: .init(maxReceiveMessageBytes: 1 << 20))
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        let big = await TestCalls.call(client, "Echo", [[UInt8](repeating: 7, count: 2 << 20)], compression: .gzip)
        #expect(big.status.code == .resourceExhausted, "\(big.status)")
        let fine = await TestCalls.call(client, "Echo", [[UInt8](repeating: 7, count: 1000)], compression: .gzip)
        #expect(fine.status.code == .ok)
        #expect(fine.messages == [[UInt8](repeating: 7, count: 1000)])
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func theConnectionBudgetThrottlesAllStreamsTogether() async throws {
        // Streams may each hold 8 MiB, but the connection only 256 KiB over all of them.
        let configuration = HTTP2ServerTransport.Configuration(
            initialStreamWindowSize: 128 * 1024, connectionWindowSize: 512 * 1024,
            streamReceiveBufferBytes: 8 << 20, connectionReceiveBufferBytes: 256 * 1024)
        let server = try await TestServer.start(configuration: configuration)
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        let sent = Counter()
        var streams: [any ClientTransportStream] = []
        var senders: [Task<Void, Never>] = []
        for _ in 0..<8 {
            let stream = await client.makeStream(head: ClientRequestHead(method: TestCalls.method("Stall")))
            streams.append(stream)
            senders.append(Task {
                let message = [UInt8](repeating: 1, count: 16 * 1024)
                for _ in 0..<1000 {
                    do { try await stream.send(message, endStream: false) } catch { return }
                    sent.increment()
                }
            })
        }
        await sent.waitUntilSettled()
        let bytes = sent.value * 16 * 1024
        // Budget + connection window + what the client itself buffers (64 KiB and a message per stream):
        // about 2 MiB. Without the connection budget the streams would hold 8 x (128 KiB..8 MiB).
        #expect(bytes < 2_200_000, "\(bytes) bytes accepted")
        #expect(server.transport.heldReceiveBytes <= 256 * 1024 + 512 * 1024)
        for stream in streams { stream.cancel() }
        for sender in senders { sender.cancel(); _ = await sender.value }
        #expect(await eventually { server.transport.heldReceiveBytes == 0 })
        await client.close()
        await Self.expectServed(server.port)
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func aMessageThatCannotFitBehindTheBudgetEndsWithResourceExhausted() async throws {
        // One 1 MiB message: more than the budget plus every window, so it can never arrive whole.
        let configuration = HTTP2ServerTransport.Configuration(
            initialStreamWindowSize: 64 * 1024, connectionWindowSize: 64 * 1024, connectionReceiveBufferBytes: 128 * 1024)
        let server = try await TestServer.start(configuration: configuration)
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port)
        let result = await TestCalls.call(client, "Echo", [[UInt8](repeating: 2, count: 1 << 20)], deadline: .now + .seconds(10))
        #expect(result.status.code == .resourceExhausted, "\(result.status)")
        let small = await TestCalls.call(client, "Echo", [[UInt8](repeating: 2, count: 1000)])
        #expect(small.status.code == .ok)
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    // MARK: Connections

    @Test func aClientThatSendsNoPrefaceIsClosedAfterTheDeadline() async throws {
        let server = try await TestServer.start(configuration: .init(prefaceTimeout: .milliseconds(200)))
        let (silent, slow) = try await offPool { () throws -> (Bool, Bool) in
            let silent = try RawConnection(port: server.port, timeout: 3)
            let slow = try RawConnection(port: server.port, timeout: 3)
            // A byte every 50 ms: the preface would take more than a second.
            for byte in RawFrames.preface.prefix(8) {
                slow.write([byte])
                usleep(50_000)
            }
            return (silent.closedByPeer(), slow.closedByPeer())
        }
        #expect(silent)
        #expect(slow)
        await Self.expectServed(server.port)
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func connectionsPastTheMaximumAreToldAndClosed() async throws {
        let server = try await TestServer.start(configuration: .init(maxConnections: 2))
        let (third, afterRelease) = try await offPool { () throws -> (RawFrame?, Bool) in
            let a = try RawConnection(port: server.port)
            let b = try RawConnection(port: server.port)
            guard a.handshake() != nil, b.handshake() != nil else { return (nil, false) }
            let c = try RawConnection(port: server.port)
            c.write(RawFrames.preface + RawFrames.settings())
            let goAway = c.readUntil { $0.isGoAway }
            a.abort()
            usleep(100_000)
            let d = try RawConnection(port: server.port)
            return (goAway, d.handshake() != nil && d.readUntil({ $0.isGoAway }) == nil)
        }
        #expect(third?.errorCode == Self.calm)
        #expect(afterRelease)
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func aConnectionWithoutStreamsIsSentGoAwayAfterTheIdleLimit() async throws {
        let server = try await TestServer.start(configuration: .init(maxConnectionIdle: .milliseconds(100)))
        let goAway = try await offPool { () throws -> RawFrame? in
            let c = try RawConnection(port: server.port, timeout: 3)
            c.handshake()
            return c.readUntil { $0.isGoAway }
        }
        #expect(goAway?.errorCode == 0)
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test func peersThatDoNotSpeakHTTP2AreToldBeforeTheClose() async throws {
        let server = try await TestServer.start()
        let (http1, garbage) = try await offPool { () throws -> (String, RawFrame?) in
            let h = try RawConnection(port: server.port)
            h.write(Array("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
            let answer = String(decoding: h.readToEnd(), as: UTF8.self)
            let g = try RawConnection(port: server.port)
            g.write(Array("hello, is this the gRPC server? \r\n\r\n".utf8))
            return (answer, g.readUntil { $0.isGoAway })
        }
        #expect(http1.hasPrefix("HTTP/1.1 400"), "\(http1.prefix(80))")
        #expect(garbage?.errorCode == StatusMapping.HTTP2ErrorCode.protocolError.rawValue)
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    // MARK: Floods, with nghttp2's protections and with the transport's own

    /// With the library's protection, the library's numbers (nghttp2 answers GOAWAY INTERNAL_ERROR);
    /// with the transport's own, lower numbers so that it acts before the library's defaults would.
    @Test(arguments: [false, true])
    func rapidResetEndsTheConnection(transportEnforces: Bool) async throws {
        let server = try await Self.startServer(
            forcingProtectionFallbacks: transportEnforces,
            protections: transportEnforces ? HTTP2Protections(streamResetBurst: 100, streamResetsPerSecond: 10) : HTTP2Protections())
        let goAway = try await offPool { () throws -> RawFrame? in
            let c = try RawConnection(port: server.port)
            c.handshake()
            var batch: [UInt8] = []
            var stream: UInt32 = 1
            for _ in 0..<1500 {
                batch += RawFrames.headerFrames(stream: stream, RawFrames.request("/test.Echo/Hang"), endStream: false)
                batch += RawFrames.rst(stream, code: Self.cancelCode)
                stream += 2
            }
            c.write(batch)
            return c.readUntil { $0.isGoAway }
        }
        let code = try #require(goAway?.errorCode)
        if transportEnforces { #expect(code == Self.calm) } else { #expect(code != 0) }
        await Self.expectServed(server.port)
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    @Test(arguments: [false, true])
    func aCONTINUATIONFloodEndsTheConnection(transportEnforces: Bool) async throws {
        // The transport's own limit is set below the library's default (8), which applies anyway.
        let server = try await Self.startServer(
            forcingProtectionFallbacks: transportEnforces,
            protections: transportEnforces ? HTTP2Protections(maxContinuations: 4) : HTTP2Protections())
        let flood = transportEnforces ? 6 : 200
        let closed = try await offPool { [count = flood] () throws -> Bool in
            let c = try RawConnection(port: server.port)
            c.handshake()
            var frames = RawFrames.frame(.headers, stream: 1, RawFrames.request("/test.Echo/Echo"))
            for _ in 0..<count { frames += RawFrames.frame(.continuation, stream: 1, RawFrames.literal("x", "y")) }
            guard c.write(frames) else { return true }
            return c.closedByPeer()
        }
        #expect(closed)
        await Self.expectServed(server.port)
        await server.transport.shutdownGracefully(gracePeriod: .seconds(1))
    }

    static func startServer(forcingProtectionFallbacks: Bool, protections: HTTP2Protections) async throws -> TestServer {
        let transport = HTTP2ServerTransport(
            host: "127.0.0.1", port: 0, configuration: .init(protections: protections), group: .shared,
            forcingProtectionFallbacks: forcingProtectionFallbacks)
        let dispatcher = EchoDispatcher()
        let port = try await transport.start { dispatcher.accept($0) }
        return TestServer(transport: transport, dispatcher: dispatcher, port: port)
    }

    @Test func theLinkedLibraryIsAsked() {
        // Debian's 1.52 carries both backports; whatever the library, the description names who enforces.
        let support = HTTP2Protections.librarySupport
        #expect(support.description.contains("stream reset rate limit"))
    }

    // MARK: Configuration and resources

    @Test func portsOutsideTheRangeAreRejected() async throws {
        let transport = HTTP2ServerTransport(host: "127.0.0.1", port: 70_000)
        await #expect(throws: RPCError.self) { try await transport.start { _ in } }
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: 65_536)
        let result = await TestCalls.call(client, "Echo", [[1]])
        #expect(result.status.code == .invalidArgument, "\(result.status)")
        await client.close()
    }

    @Test func anEventLoopWithoutDescriptorsFailsCallsInsteadOfTrapping() async throws {
        // The poller fails as epoll_create does in a process out of descriptors. (Lowering the limit of
        // the test process for real made every test running beside this one fail with EMFILE.)
        let loop = EventLoop(name: "no-fds") { name throws(PollerError) in
            throw PollerError(message: "cannot create epoll for \(name): Too many open files")
        }
        let group = EventLoopGroup(loops: [loop])
        let failure = try #require(group.loops.first?.startFailure)
        #expect(failure.code == .unavailable)
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: 1, group: group)
        let result = await TestCalls.call(client, "Echo", [[1]])
        #expect(result.status.code == .unavailable, "\(result.status)")
        await client.close()
        let server = HTTP2ServerTransport(host: "127.0.0.1", port: 0, group: group)
        await #expect(throws: RPCError.self) { try await server.start { _ in } }
    }

    // MARK: Helpers

    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// This process's resident set (VmRSS), in bytes.
    static func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return (Int(line.split(separator: " ")[1]) ?? 0) * 1024
    }
}
