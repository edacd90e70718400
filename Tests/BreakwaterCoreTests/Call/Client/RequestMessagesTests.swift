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

    // MARK: Concurrent attempts (hedging)

    /// A producer that writes each message the test sends it, and returns when the test finishes it.
    private func gatedMessages(limit: Int) -> (RequestMessages, AsyncStream<[UInt8]>.Continuation) {
        let (gate, feed) = AsyncStream.makeStream(of: [UInt8].self)
        let messages = RequestMessages(retryBufferBytes: limit) { writer in
            for await message in gate { try await writer.write(message) }
        }
        return (messages, feed)
    }

    @Test("attempt views read side by side: each from the first message, then the live writes")
    func attemptViewsReadSideBySide() async throws {
        let (messages, feed) = gatedMessages(limit: 1000)
        defer { messages.close() }
        var first = messages.attempt(1).makeAsyncIterator()
        feed.yield([1])
        #expect(try await first.next() == [1])
        // A later attempt replays what was written, then follows the producer with the first.
        var second = messages.attempt(2).makeAsyncIterator()
        #expect(try await second.next() == [1])
        feed.yield([2])
        #expect(try await second.next() == [2])
        #expect(try await first.next() == [2])
        feed.finish()
        #expect(try await first.next() == nil)
        #expect(try await second.next() == nil)
        #expect(!messages.isCommitted)
    }

    @Test("the buffer limit applies once for all attempts; past it the call is committed to the one furthest ahead")
    func overflowCommitsToTheFurthestAttempt() async throws {
        let (messages, feed) = gatedMessages(limit: 10)
        defer { messages.close() }
        var first = messages.attempt(1).makeAsyncIterator()
        var second = messages.attempt(2).makeAsyncIterator()
        let waiter = Task { await messages.waitForCommit() }
        feed.yield([1, 1, 1, 1])
        feed.yield([2, 2, 2, 2])
        #expect(try await second.next() == [1, 1, 1, 1])
        #expect(try await second.next() == [2, 2, 2, 2])
        #expect(try await first.next() == [1, 1, 1, 1])
        // 8 bytes stored once, though two attempts read them: not committed.
        #expect(!messages.isCommitted)
        feed.yield([3, 3, 3, 3])
        // 12 bytes: committed to attempt 2, which has read two messages to the first's one.
        #expect(await waiter.value == 2)
        #expect(messages.committedAttempt == 2)
        #expect(messages.isCommitted)
        let error = await #expect(throws: RPCError.self) { _ = try await first.next() }
        #expect(error?.code == .cancelled)
        #expect(try await second.next() == [3, 3, 3, 3])
        feed.finish()
        #expect(try await second.next() == nil)
        // A new attempt cannot start once committed.
        var third = messages.attempt(3).makeAsyncIterator()
        await #expect(throws: RPCError.self) { _ = try await third.next() }
    }

    @Test("an attempt that ended is never chosen; a commit to an attempt ends the others' reads")
    func endedAttemptsAndExplicitCommit() async throws {
        let (messages, feed) = gatedMessages(limit: 1000)
        defer { messages.close() }
        var first = messages.attempt(1).makeAsyncIterator()
        var second = messages.attempt(2).makeAsyncIterator()
        var third = messages.attempt(3).makeAsyncIterator()
        feed.yield([1])
        #expect(try await first.next() == [1])
        #expect(try await second.next() == [1])
        messages.endAttempt(1)
        // The furthest of the attempts left: the second (the third has read nothing).
        messages.commit()
        #expect(messages.committedAttempt == 2)
        await #expect(throws: RPCError.self) { _ = try await third.next() }
        // Later commits keep the first one's choice.
        #expect(messages.commit(toAttempt: 3) == 2)
        feed.yield([2])
        #expect(try await second.next() == [2])
        feed.finish()
        #expect(try await second.next() == nil)
    }

    @Test("a commit to a named attempt wakes the other attempts waiting for a message: they fail at once")
    func commitToAttemptWakesTheOthers() async throws {
        let (messages, feed) = gatedMessages(limit: 1000)
        defer { messages.close() }
        var first = messages.attempt(1).makeAsyncIterator()
        feed.yield([1])
        #expect(try await first.next() == [1])
        let (readOne, readOneFeed) = AsyncStream.makeStream(of: Void.self)
        let loser = Task {
            var second = messages.attempt(2).makeAsyncIterator()
            _ = try await second.next()
            readOneFeed.yield()
            return try await second.next()  // waits for a message that comes only after the commit
        }
        for await _ in readOne { break }
        #expect(messages.commit(toAttempt: 1) == 1)
        let error = await #expect(throws: RPCError.self) { _ = try await loser.value }
        #expect(error?.code == .cancelled)
        feed.yield([2])
        #expect(try await first.next() == [2])
        feed.finish()
        #expect(try await first.next() == nil)
    }
}
