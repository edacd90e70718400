import BreakwaterCore
import CoreMetrics
import MetricsTestKit
import Synchronization
import Testing

@testable import BreakwaterResilience

/// Events an observer saw, shared with the test.
private final class SeenEvents: Sendable {
    let rejections = Atomic<Int>(0)
    let transitions = Atomic<Int>(0)

    func observe(_ event: CircuitBreakerEvent) {
        switch event {
        case .rejection: rejections.add(1, ordering: .relaxed)
        case .transition: transitions.add(1, ordering: .relaxed)
        }
    }
}

/// What an OPEN breaker's rejection before the call is built (`ClientCallAdmission`) shares between calls
/// to cost less, and what it must still do for every call.
@Suite("Early rejection cost: one shared error per tenth, every rejection still seen")
struct EarlyRejectionCostTests {
    static let get = MethodDescriptor(service: "echo.Echo", method: "Get")
    static let policy = CircuitBreakerPolicy(consecutiveFailures: 1, openDuration: .seconds(60), jitter: 0)

    /// An OPEN breaker of `registry` for `Get`, 12.25 s before its probe.
    func openBreaker(_ registry: CircuitBreakerRegistry, clock: ManualClock) throws -> CircuitBreaker {
        let breaker = try registry.breaker(target: "echo", method: Self.get, policy: Self.policy)
        breaker.record(.failure, for: try breaker.acquire())
        clock.advance(by: .milliseconds(47_750))
        return breaker
    }

    func rejection(_ error: RPCError?) -> CircuitBreakerRejection? {
        error?.cause as? CircuitBreakerRejection
    }

    @Test("rejections within one tenth of the countdown share one error, the first's; the next tenth gets its own")
    func sharedWithinATenth() throws {
        let clock = ManualClock()
        let breaker = try openBreaker(CircuitBreakerRegistry(clock: clock), clock: clock)
        let first = try #require(breaker.sharedRejectionErrorIfRejecting()?.error)
        #expect(first.code == .unavailable)
        #expect(first.message == "circuit breaker 'echo/echo.Echo/Get' is OPEN; next probe in 12.3 s")
        #expect(rejection(first) == CircuitBreakerRejection(key: breaker.key, state: .open, retryAfter: .milliseconds(12_250)))

        clock.advance(by: .milliseconds(10))  // 12.24 s: the same tenth when rounded up
        let second = try #require(breaker.sharedRejectionErrorIfRejecting()?.error)
        #expect(second.message == first.message)
        #expect(rejection(second)?.retryAfter == .milliseconds(12_250))  // the first's: stale by 10 ms
        // A rejection from `acquire()` shares it too.
        do {
            _ = try breaker.acquire()
            Issue.record("an OPEN breaker admitted a call")
        } catch {
            #expect(rejection(breaker.rejectionError(error))?.retryAfter == .milliseconds(12_250))
        }

        clock.advance(by: .milliseconds(200))  // 12.04 s: the countdown moved by two tenths
        let third = try #require(breaker.sharedRejectionErrorIfRejecting()?.error)
        #expect(third.message == "circuit breaker 'echo/echo.Echo/Get' is OPEN; next probe in 12.1 s")
        #expect(rejection(third)?.retryAfter == .milliseconds(12_040))

        breaker.forceOpen()
        let forced = try #require(breaker.sharedRejectionErrorIfRejecting()?.error)
        #expect(forced.message == "circuit breaker 'echo/echo.Echo/Get' is FORCED_OPEN; held open by an operator")
        #expect(rejection(forced) == CircuitBreakerRejection(key: breaker.key, state: .forcedOpen, retryAfter: nil))
        // Every one of them was counted as a rejection.
        #expect(breaker.snapshot().totals.rejected == 5)
    }

    @Test("another breaker's rejection passed to rejectionError gets its own error, not this breaker's")
    func foreignRejection() throws {
        let clock = ManualClock()
        let breaker = try openBreaker(CircuitBreakerRegistry(clock: clock), clock: clock)
        _ = breaker.sharedRejectionErrorIfRejecting()?.error
        let other = CircuitBreakerRejection(key: BreakerKey(name: "other"), state: .open, retryAfter: .milliseconds(12_250))
        #expect(rejection(breaker.rejectionError(other)) == other)
    }

    @Test("every rejection is counted, yielded to the breaker's and the registry's subscribers with its own retryAfter, and observed")
    func everyRejectionIsSeen() async throws {
        let clock = ManualClock()
        let metrics = TestMetrics()
        let seen = SeenEvents()
        let registry = CircuitBreakerRegistry(clock: clock, observer: { seen.observe($0) })
        let breaker = try withMetricsFactory(metrics) { try openBreaker(registry, clock: clock) }
        let breakerEvents = breaker.events()
        let registryEvents = registry.events()
        for _ in 0..<5 {
            #expect(breaker.sharedRejectionErrorIfRejecting()?.error != nil)
            clock.advance(by: .milliseconds(10))
        }
        #expect(seen.rejections.load(ordering: .relaxed) == 5)
        #expect(seen.transitions.load(ordering: .relaxed) == 1)  // CLOSED -> OPEN
        let counter = try metrics.expectCounter(
            CircuitBreakerMetricNames.rejections, [(CircuitBreakerMetricNames.Dimension.breaker, "echo/echo.Echo/Get")])
        #expect(counter.totalValue == 5)
        let expected = (0..<5).map { Duration.milliseconds(12_250 - 10 * $0) }
        for events in [breakerEvents, registryEvents] {
            var retryAfters: [Duration?] = []
            for await event in events {
                guard case .rejection(let rejection) = event else { continue }
                retryAfters.append(rejection.retryAfter)
                if retryAfters.count == expected.count { break }
            }
            #expect(retryAfters == expected)
        }
    }

    @Test("a registry nobody listens to forwards nothing; a subscriber that joins later gets every rejection from then on")
    func registrySubscriberJoinsLater() async throws {
        let clock = ManualClock()
        let registry = CircuitBreakerRegistry(clock: clock)
        let breaker = try openBreaker(registry, clock: clock)
        for _ in 0..<3 { #expect(breaker.sharedRejectionErrorIfRejecting()?.error != nil) }
        let events = registry.events()
        for _ in 0..<2 { #expect(breaker.sharedRejectionErrorIfRejecting()?.error != nil) }
        breaker.reset()
        var seen: [String] = []
        for await event in events {
            switch event {
            case .rejection: seen.append("rejection")
            case .transition(_, let transition): seen.append("\(transition.to)")
            }
            if seen.count == 3 { break }
        }
        #expect(seen == ["rejection", "rejection", "CLOSED"])
    }

    @Test("a registry's streams end when it goes away; its breakers still reject")
    func registryGoesAway() async throws {
        let clock = ManualClock()
        var registry: CircuitBreakerRegistry? = CircuitBreakerRegistry(clock: clock)
        let breaker = try openBreaker(try #require(registry), clock: clock)
        let events = try #require(registry).events()
        registry = nil
        #expect(breaker.sharedRejectionErrorIfRejecting()?.error != nil)
        var count = 0
        for await _ in events { count += 1 }
        #expect(count == 0)
    }

    @Test("the chain's admission finds each method's own breaker when calls alternate between methods")
    func alternatingMethods() throws {
        let clock = ManualClock()
        let config = try ResilienceConfiguration(
            policies: PolicyTable(defaultPolicy: MethodPolicy(circuitBreaker: Self.policy)), target: "echo", clock: clock)
        let chain = config.resilienceInterceptor
        let update = MethodDescriptor(service: "echo.Echo", method: "Update")
        try config.registry.breaker(target: "echo", method: Self.get, policy: Self.policy).forceOpen()
        _ = try config.registry.breaker(target: "echo", method: update, policy: Self.policy)
        func rejects(_ method: MethodDescriptor) -> Bool {
            do {
                try chain.admit(ClientContext(descriptor: method, kind: .unary))
                return false
            } catch {
                return error.isCircuitBreakerRejection
            }
        }
        // The error the client throws, already boxed, is the one `admit` throws.
        let boxed = try #require(chain.admissionError(ClientContext(descriptor: Self.get, kind: .unary)) as? RPCError)
        #expect(boxed.isCircuitBreakerRejection)
        #expect(boxed.message == "circuit breaker 'echo/echo.Echo/Get' is FORCED_OPEN; held open by an operator")
        #expect(chain.admissionError(ClientContext(descriptor: update, kind: .unary)) == nil)
        #expect(config.circuitBreakerInterceptor.admissionError(ClientContext(descriptor: Self.get, kind: .unary)) is RPCError)
        // An equal descriptor made of other strings finds the same breaker.
        let getAgain = MethodDescriptor(service: String("echo.Echo".reversed().reversed()), method: "Get")
        #expect([Self.get, update, Self.get, getAgain, update, update, Self.get].map(rejects)
            == [true, false, true, true, false, false, true])
    }
}
