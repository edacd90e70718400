import BreakwaterCore
import BreakwaterTestSupport
import Foundation
import Testing
@testable import BreakwaterHTTP2

/// A group made by the user ends its threads and closes its descriptors when it shuts down, whatever is
/// still open on it.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct EventLoopGroupShutdownTests {
    static func loopThreads(named prefix: String) -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.filter { task in
            let comm = (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)) ?? ""
            return comm.hasPrefix(prefix)
        }.count
    }

    /// The process's epoll, eventfd and socket descriptors (what event loops and connections open; the
    /// runtime's own timerfds and pipes come and go with other work).
    static func transportDescriptors() -> [String] {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.compactMap { fd -> String? in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)"),
                target.hasPrefix("socket:") || target.contains("eventpoll") || target.contains("eventfd")
            else { return nil }
            return "\(fd)=\(target)"
        }.sorted()
    }

    @Test func aGroupShutsDownWithNoThreadOrDescriptorLeft() async throws {
        // The shared group opens its loops' descriptors when first used, perhaps by a test running beside
        // this one: open them before counting (an epoll descriptor has no inode number to tell them apart).
        _ = EventLoopGroup.shared.loops
        let descriptorsBefore = Self.transportDescriptors()
        let group = EventLoopGroup(numberOfLoops: 2, namePrefix: "bw-test-loop")
        // Threads name themselves as they start.
        #expect(await eventually { Self.loopThreads(named: "bw-test-loop") == 2 })
        // A server still listening, a client still connected: the shutdown closes both.
        let server = try await TestServer.start(group: group)
        let client = HTTP2ClientTransport(host: "127.0.0.1", port: server.port, group: group)
        let ok = await TestCalls.call(client, "Echo", [[1]])
        #expect(ok.status.code == .ok)
        let hanging = Task { await TestCalls.call(client, "Hang", [[1]]) }
        await server.dispatcher.waitForAccepted(2)
        // What opened since (descriptor and inode): the group's, and perhaps a test's running beside it,
        // which closes its own soon. A leak keeps the same descriptor with the same inode.
        let opened = Set(Self.transportDescriptors()).subtracting(descriptorsBefore)
        #expect(!opened.isEmpty)
        await group.shutdownGracefully()
        let ended = await hanging.value
        #expect(ended.status.code == .unavailable, "\(ended.status)")
        #expect(await eventually { Self.loopThreads(named: "bw-test-loop") == 0 })
        #expect(
            await eventually { opened.isDisjoint(with: Self.transportDescriptors()) },
            "still open: \(opened.intersection(Self.transportDescriptors()))")
        // After the shutdown: calls fail at once, servers do not start, closing returns.
        let late = await TestCalls.call(HTTP2ClientTransport(host: "127.0.0.1", port: server.port, group: group), "Echo", [[1]])
        #expect(late.status.code == .unavailable)
        await #expect(throws: RPCError.self) { _ = try await TestServer.start(group: group) }
        await client.close()
        await server.transport.shutdownGracefully(gracePeriod: .milliseconds(10))
    }

    @Test func aTaskPreferringAStoppedLoopStillRuns() async throws {
        let group = EventLoopGroup(numberOfLoops: 1, namePrefix: "bw-stop-loop")
        let loop = group.loops[0]
        await group.shutdownGracefully()
        #expect(loop.isStopped)
        let ran = await Task(executorPreference: loop) { 42 }.value
        #expect(ran == 42)
    }

    @Test func theSharedGroupIsNotShutDown() async {
        await EventLoopGroup.shared.shutdownGracefully()
        let stopped = EventLoopGroup.shared.loops.filter { $0.isStopped }
        #expect(stopped.isEmpty)
    }
}
