import BreakwaterCore
import BreakwaterTestSupport
import Testing

@Suite("RequestMessages replay buffer", .timeLimit(.minutes(TestTime.minutes(1))))
struct RequestMessagesTests {
    private func collect(_ messages: RequestMessages) async throws -> [[UInt8]] {
        var all: [[UInt8]] = []
        for try await message in messages { all.append(message) }
        return all
    }

    @Test func fixedMessagesReplay() async throws {
        let messages = RequestMessages(messages: [[1], [2]])
        #expect(try await collect(messages) == [[1], [2]])
        #expect(try await collect(messages) == [[1], [2]])
        #expect(messages.isReplayable)
    }

    @Test func producedMessagesReplayWithinTheLimit() async throws {
        let messages = RequestMessages(retryBufferBytes: 100) { writer in
            try await writer.write([1, 2])
            try await writer.write([3])
        }
        defer { messages.close() }
        #expect(try await collect(messages) == [[1, 2], [3]])
        #expect(try await collect(messages) == [[1, 2], [3]])
        #expect(!messages.isCommitted)
    }

    @Test func overflowCommitsAndForbidsReplay() async throws {
        let messages = RequestMessages(retryBufferBytes: 4) { writer in
            for i in 0..<50 { try await writer.write([UInt8](repeating: UInt8(i), count: 3)) }
        }
        defer { messages.close() }
        let first = try await collect(messages)
        #expect(first.count == 50)
        #expect(first.last == [49, 49, 49])
        #expect(messages.isCommitted)
        await #expect(throws: RPCError.self) { _ = try await collect(messages) }
    }

    @Test func explicitCommitForbidsReplay() async throws {
        let messages = RequestMessages(retryBufferBytes: 1000) { writer in
            try await writer.write([1])
        }
        defer { messages.close() }
        _ = try await collect(messages)
        messages.commit()
        #expect(messages.isCommitted)
        await #expect(throws: RPCError.self) { _ = try await collect(messages) }
    }

    @Test func aNewIterationSupersedesTheOld() async throws {
        let messages = RequestMessages(retryBufferBytes: 1000) { writer in
            try await writer.write([1])
            try await writer.write([2])
        }
        defer { messages.close() }
        var old = messages.makeAsyncIterator()
        #expect(try await old.next() == [1])
        var new = messages.makeAsyncIterator()
        #expect(try await new.next() == [1])
        let error = await #expect(throws: RPCError.self) { _ = try await old.next() }
        #expect(error?.code == .cancelled)
        #expect(try await new.next() == [2])
        #expect(try await new.next() == nil)
    }

    @Test func producerErrorIsThrownToTheReader() async throws {
        struct Boom: Error {}
        let messages = RequestMessages(retryBufferBytes: 1000) { writer in
            try await writer.write([1])
            throw Boom()
        }
        defer { messages.close() }
        var iterator = messages.makeAsyncIterator()
        #expect(try await iterator.next() == [1])
        await #expect(throws: Boom.self) { _ = try await iterator.next() }
    }

    @Test func closeCancelsAWaitingProducer() async throws {
        let cancelled = Signal()
        let messages = RequestMessages(retryBufferBytes: 1) { writer in
            do {
                while true { try await writer.write([0, 0]) }  // blocks once committed and unread
            } catch {
                cancelled.fire()
                throw error
            }
        }
        var iterator = messages.makeAsyncIterator()
        #expect(try await iterator.next() == [0, 0])
        messages.close()
        await cancelled.wait()
    }
}
