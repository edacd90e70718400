@_spi(Locking) import BreakwaterCore
import BreakwaterTestSupport
import EchoService
import Testing

@Suite("Echo service over the in-process transport", .timeLimit(.minutes(TestTime.minutes(1))))
struct EchoServiceTests {
    @Test func getReturnsTheTextUnchanged() async throws {
        try await withEcho { client, provider in
            let response = try await client.get(request("hello world"))
            #expect(response.text == "hello world")
            #expect(provider.callCount(.get) == 1)
        }
    }

    @Test func expandStreamsOneResponsePerWord() async throws {
        try await withEcho { client, provider in
            let stream = try await client.expand(request("the quick brown fox"))
            var words: [String] = []
            for try await response in stream { words.append(response.text) }
            #expect(words == ["the", "quick", "brown", "fox"])
            #expect(stream.trailers == [:])
            #expect(provider.callCount(.expand) == 1)
        }
    }

    @Test func collectJoinsWithSingleSpaces() async throws {
        try await withEcho { client, _ in
            let response = try await client.collect { writer in
                for word in ["a", "b", "c"] { try await writer.write(request(word)) }
            }
            #expect(response.text == "a b c")
        }
    }

    @Test func collectFromASequence() async throws {
        try await withEcho { client, _ in
            let (requests, continuation) = AsyncStream.makeStream(of: Echo_EchoRequest.self)
            continuation.yield(request("x"))
            continuation.yield(request("y"))
            continuation.finish()
            let response = try await client.collect(requests)
            #expect(response.text == "x y")
        }
    }

    @Test func updateEchoesEachMessageAsItArrives() async throws {
        try await withEcho { client, _ in
            // Lock-step: the next request is written only after the previous echo was read.
            let (requests, continuation) = AsyncStream.makeStream(of: Echo_EchoRequest.self)
            let stream = try await client.update(requests)
            var iterator = stream.makeAsyncIterator()
            for i in 0..<10 {
                continuation.yield(request("m\(i)"))
                #expect(try await iterator.next()?.text == "m\(i)")
            }
            continuation.finish()
            #expect(try await iterator.next() == nil)
        }
    }

    @Test func getWithMetadataReturnsHeadersAndTrailers() async throws {
        try await withEcho { client, _ in
            let response = try await client.getWithMetadata(request("x"), metadata: ["x-id": "1"])
            #expect(response.message.text == "x")
            #expect(response.metadata == [:])
            #expect(response.trailers == [:])
        }
    }

    @Test func failFirstFailsTheFirstCallsOfEachMethod() async throws {
        try await withEcho(provider: EchoProvider(faults: .init(failFirst: 2))) { client, provider in
            for _ in 0..<2 {
                let error = await #expect(throws: RPCError.self) { _ = try await client.get(request("x")) }
                #expect(error?.code == .unavailable)
            }
            let third = try await client.get(request("x"))
            #expect(third.text == "x")
            // Counted per method: Collect still fails twice.
            let error = await #expect(throws: RPCError.self) {
                _ = try await client.collect { try await $0.write(request("a")) }
            }
            #expect(error?.code == .unavailable)
            #expect(provider.callCount(.get) == 3)
            #expect(provider.callCount(.collect) == 1)
        }
    }

    @Test func failRateUsesTheInjectedRandomSource() async throws {
        let values = RandomSequence([0.1, 0.9, 0.4, 0.6])
        let provider = EchoProvider(faults: .init(failRate: 0.5), random: { values.next() })
        try await withEcho(provider: provider) { client, _ in
            var outcomes: [Bool] = []
            for _ in 0..<4 {
                do {
                    _ = try await client.get(request("x"))
                    outcomes.append(true)
                } catch let error as RPCError {
                    #expect(error.code == .unavailable)
                    outcomes.append(false)
                }
            }
            #expect(outcomes == [false, true, false, true])
        }
    }

    @Test func hangEndsAtTheDeadlineAndTheHandlerIsCancelled() async throws {
        try await withEcho(provider: EchoProvider(faults: .init(hang: true))) { client, provider in
            let start = ContinuousClock.now
            let error = await #expect(throws: RPCError.self) {
                _ = try await client.get(request("x"), options: CallOptions(timeout: .milliseconds(100)))
            }
            #expect(error?.code == .deadlineExceeded, "\(String(describing: error))")
            #expect(ContinuousClock.now - start < .seconds(5))
            await provider.waitForCancellations(atLeast: 1)
            #expect(provider.cancellationCount == 1)
        }
    }

    @Test func delayAnswersAfterTheDelay() async throws {
        try await withEcho(provider: EchoProvider(faults: .init(delay: .milliseconds(20)))) { client, _ in
            let start = ContinuousClock.now
            let response = try await client.get(request("late"))
            #expect(response.text == "late")
            #expect(ContinuousClock.now - start >= .milliseconds(20))
        }
    }

    @Test func delayIsCancelledByTheDeadline() async throws {
        try await withEcho(provider: EchoProvider(faults: .init(delay: .seconds(3600)))) { client, provider in
            let error = await #expect(throws: RPCError.self) {
                _ = try await client.get(request("x"), options: CallOptions(timeout: .milliseconds(50)))
            }
            #expect(error?.code == .deadlineExceeded)
            await provider.waitForCancellations(atLeast: 1)
        }
    }

    @Test func clientCancelOfUpdateCancelsTheHandler() async throws {
        try await withEcho { client, provider in
            let (requests, continuation) = AsyncStream.makeStream(of: Echo_EchoRequest.self)
            let stream = try await client.update(requests)
            var iterator = stream.makeAsyncIterator()
            continuation.yield(request("one"))
            #expect(try await iterator.next()?.text == "one")
            stream.cancel()
            let error = await #expect(throws: RPCError.self) { _ = try await iterator.next() }
            #expect(error?.code == .cancelled)
            await provider.waitForCancellations(atLeast: 1)
            continuation.finish()
        }
    }
}

/// Replays fixed values as a random source.
final class RandomSequence: Sendable {
    private let values: [Double]
    private let index = TSanMutex(0)
    init(_ values: [Double]) { self.values = values }
    func next() -> Double {
        index.withLock { i in
            defer { i += 1 }
            return values[i % values.count]
        }
    }
}
