@_spi(Locking) import BreakwaterCore
import BreakwaterTestSupport
import Synchronization
import Testing
@testable import BreakwaterHTTP2

/// When DNS is looked up again: the schedule as a value, and the resolver on a stepping clock with a
/// lookup of the test's own (the answers change between lookups). No sleeps.
@Suite(.timeLimit(.minutes(TestTime.minutes(1)))) struct DNSResolverTests {
    typealias Instant = SteppingClock.Instant
    let t0 = Instant(offset: .zero)

    @Test func theFirstLookupIsAtOnceAndLaterOnesOnlyWhenAskedAndNotSoonerThanTheInterval() {
        var schedule = ResolutionSchedule<Instant>(minimumInterval: .seconds(30))
        #expect(schedule.nextStart(now: t0) == t0)
        let v1 = schedule.start(now: t0)
        #expect(v1)
        #expect(schedule.nextStart(now: t0.advanced(by: .seconds(100))) == nil, "nothing asked for: no lookup")
        // A connection fails 5 s later: the lookup waits until 30 s after the last one.
        let v2 = schedule.request(now: t0.advanced(by: .seconds(5)))
        #expect(v2 == t0.advanced(by: .seconds(30)))
        let v3 = schedule.start(now: t0.advanced(by: .seconds(29)))
        #expect(!v3)
        // More failures meanwhile do not add lookups.
        _ = schedule.request(now: t0.advanced(by: .seconds(10)))
        let v4 = schedule.start(now: t0.advanced(by: .seconds(30)))
        #expect(v4)
        let v5 = schedule.start(now: t0.advanced(by: .seconds(30)))
        #expect(!v5)
        // Asked for long after the last lookup: at once.
        let v6 = schedule.request(now: t0.advanced(by: .seconds(100)))
        #expect(v6 == t0.advanced(by: .seconds(100)))
    }

    final class Answers: Sendable {
        let lists = TSanMutex<[[Endpoint]]>([])
        let lookups = TSanMutex(0)
        func next() -> [Endpoint] {
            lookups.withLock { $0 += 1 }
            return lists.withLock { $0.count > 1 ? $0.removeFirst() : $0.first ?? [] }
        }
    }

    @Test func theResolverLooksAgainAfterAFailureAtTheMinimumInterval() async throws {
        let clock = SteppingClock()
        let answers = Answers()
        let a = Endpoint(host: "127.0.0.1", port: 1)
        let b = Endpoint(host: "127.0.0.2", port: 1)
        answers.lists.withLock { $0 = [[a], [a, b]] }
        let resolver = DNSResolver(
            host: "echo.internal", port: 1, minimumResolutionInterval: .seconds(30), clock: clock,
            lookup: { _, _ in .success(answers.next()) })
        var resolutions = resolver.resolutions().makeAsyncIterator()
        #expect(await resolutions.next()?.endpoints == [a])
        // A connection failed at t+1 s: the next lookup sleeps until t+30 s.
        clock.advance(by: .seconds(1))
        resolver.requestResolution()
        await clock.waitForSleepers(atLeast: 1)
        #expect(answers.lookups.withLock { $0 } == 1)
        #expect(clock.requestedSleeps.last == .seconds(29))
        clock.advance(by: .seconds(29))
        #expect(await resolutions.next()?.endpoints == [a, b])
        #expect(answers.lookups.withLock { $0 } == 2)
    }

    @Test func aFailedLookupIsReportedAndAnUnchangedListIsNot() async throws {
        let clock = SteppingClock()
        let a = Endpoint(host: "127.0.0.1", port: 1)
        let b = Endpoint(host: "127.0.0.2", port: 1)
        let answers = TSanMutex<[Result<[Endpoint], RPCError>]>([
            .success([a]), .failure(RPCError(code: .unavailable, message: "no such host")), .success([a]), .success([a]),
            .success([a, b]),
        ])
        let lookups = TSanMutex(0)
        let resolver = DNSResolver(
            host: "echo.internal", port: 1, minimumResolutionInterval: .seconds(1), clock: clock,
            lookup: { _, _ in
                lookups.withLock { $0 += 1 }
                return answers.withLock { $0.removeFirst() }
            })
        var resolutions = resolver.resolutions().makeAsyncIterator()
        #expect(await resolutions.next()?.endpoints == [a])
        clock.advance(by: .seconds(1))
        resolver.requestResolution()
        #expect(await resolutions.next()?.error?.message == "no such host")
        clock.advance(by: .seconds(1))
        resolver.requestResolution()
        #expect(await resolutions.next()?.endpoints == [a], "after a failure the list is reported again")
        // The fourth lookup answers [a] again: not reported; the fifth brings b.
        clock.advance(by: .seconds(1))
        resolver.requestResolution()
        while lookups.withLock({ $0 }) < 4 { await Task.yield() }
        clock.advance(by: .seconds(1))
        resolver.requestResolution()
        #expect(await resolutions.next()?.endpoints == [a, b])
        #expect(lookups.withLock { $0 } == 5)
    }

    @Test func localhostResolvesToItsLoopbackAddresses() async throws {
        var resolutions = DNSResolver(host: "localhost", port: 50051).resolutions().makeAsyncIterator()
        let endpoints = try #require(await resolutions.next()?.endpoints)
        #expect(endpoints.contains(Endpoint(host: "127.0.0.1", port: 50051)))
        #expect(Set(endpoints).count == endpoints.count, "no duplicates")
    }
}
