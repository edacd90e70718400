@_spi(Locking) import BreakwaterCore
import Synchronization
import Testing

@testable import BreakwaterResilience

private struct BackendError: Error {}
private struct NotFound: Error {}

/// Counters shared by concurrent tasks.
private final class Tally: Sendable {
    let value = Atomic<Int>(0)
    let maximum = Atomic<Int>(0)
}

@Suite("CircuitBreaker")
struct CircuitBreakerTests {
    func trippedBreaker(
        _ policy: CircuitBreakerPolicy = CircuitBreakerPolicy(consecutiveFailures: 1, jitter: 0),
        clock: ManualClock = ManualClock(),
        name: String = "echo.Echo/Get"
    ) throws -> CircuitBreaker {
        let breaker = try CircuitBreaker(name: name, policy: policy, clock: clock)
        let permit = try breaker.acquire()
        breaker.record(.failure, for: permit)
        #expect(breaker.currentState == .open)
        return breaker
    }

    @Test("open durations are jittered by default: up to a fifth shorter, never longer")
    func defaultJitter() throws {
        #expect(CircuitBreakerPolicy().jitter == 0.2)
        for (r, seconds) in [(0.0, 60.0), (0.5, 54.0), (1.0, 48.0)] {
            let clock = ManualClock()
            let breaker = try CircuitBreaker(
                name: "jitter", policy: CircuitBreakerPolicy(consecutiveFailures: 1), clock: clock, random: { r })
            breaker.record(.failure, for: try breaker.acquire())
            let wait = try #require(breaker.snapshot().timeUntilProbe)
            #expect(wait > .seconds(seconds) - .milliseconds(1) && wait < .seconds(seconds) + .milliseconds(1), "random \(r): \(wait)")
        }
    }

    @Test("rejection names the breaker, its state and the time until it probes; maps to UNAVAILABLE")
    func rejectionMessage() throws {
        let clock = ManualClock()
        let breaker = try trippedBreaker(clock: clock)
        clock.advance(by: .milliseconds(47_750))
        #expect(throws: CircuitBreakerRejection.self) { try breaker.acquire() }
        do {
            _ = try breaker.acquire()
        } catch {
            #expect(error.key == BreakerKey(name: "echo.Echo/Get"))
            #expect(error.state == .open)
            #expect(error.retryAfter == .milliseconds(12_250))
            #expect(error.message == "circuit breaker 'echo.Echo/Get' is OPEN; next probe in 12.3 s")
            let rpc = error.rpcError
            #expect(rpc.code == .unavailable)
            #expect(rpc.message == error.message)
            #expect(rpc.isCircuitBreakerRejection)
        }
        #expect(breaker.snapshot().totals.rejected == 2)
    }

    @Test("rejectionError reuses the rendered message only while its text would be the same")
    func rejectionErrorMessages() throws {
        let clock = ManualClock()
        let breaker = try trippedBreaker(clock: clock)
        func reject() throws -> (CircuitBreakerRejection, RPCError) {
            do {
                _ = try breaker.acquire()
            } catch {
                return (error, breaker.rejectionError(error))
            }
            throw CancellationError()  // admitted: the test fails below
        }
        clock.advance(by: .milliseconds(47_750))
        let (first, firstError) = try reject()
        #expect(firstError.message == "circuit breaker 'echo.Echo/Get' is OPEN; next probe in 12.3 s")
        #expect(firstError.code == .unavailable)
        #expect(firstError.isCircuitBreakerRejection)
        #expect((firstError.cause as? CircuitBreakerRejection) == first)
        clock.advance(by: .milliseconds(10))  // 12.24 s: still 12.3 when rounded up
        let (second, secondError) = try reject()
        #expect(second.retryAfter == .milliseconds(12_240))
        #expect(secondError.message == second.message)
        clock.advance(by: .milliseconds(200))  // 12.04 s -> 12.1
        let (third, thirdError) = try reject()
        #expect(thirdError.message == "circuit breaker 'echo.Echo/Get' is OPEN; next probe in 12.1 s")
        #expect(thirdError.message == third.message)
        breaker.forceOpen()
        let (forced, forcedError) = try reject()
        #expect(forcedError.message == "circuit breaker 'echo.Echo/Get' is FORCED_OPEN; held open by an operator")
        #expect(forcedError.message == forced.message)
    }

    @Test("a full cycle through the class: CLOSED, OPEN, HALF_OPEN, CLOSED")
    func fullCycle() throws {
        let clock = ManualClock()
        let breaker = try CircuitBreaker(name: "db", clock: clock)
        for _ in 0..<5 { breaker.record(.unavailable, for: try breaker.acquire()) }
        #expect(breaker.currentState == .open)
        clock.advance(by: .seconds(60))
        let probe = try breaker.acquire()
        #expect(probe.isProbe)
        #expect(breaker.currentState == .halfOpen)
        breaker.record(.ok, for: probe)
        breaker.record(.notFound, for: try breaker.acquire())  // request-shaped: the server answered
        #expect(breaker.currentState == .closed)
        let snapshot = breaker.snapshot()
        #expect(snapshot.totals.failures == 5)
        #expect(snapshot.totals.successes == 2)
    }

    @Test("at most halfOpenProbes of 100 concurrent callers are admitted")
    func concurrentProbeBound() async throws {
        for probes in [1, 3] {
            let clock = ManualClock()
            let breaker = try trippedBreaker(
                CircuitBreakerPolicy(consecutiveFailures: 1, halfOpenProbes: probes, successThreshold: 1000),
                clock: clock
            )
            clock.advance(by: .seconds(60))
            let inFlight = Tally()
            let admitted = await withTaskGroup(of: Int.self) { group in
                for i in 0..<100 {
                    group.addTask {
                        var count = 0
                        for _ in 0..<20 {
                            guard let permit = try? breaker.acquire() else {
                                await Task.yield()
                                continue
                            }
                            count += 1
                            let now = inFlight.value.add(1, ordering: .sequentiallyConsistent).newValue
                            inFlight.maximum.max(now, ordering: .sequentiallyConsistent)
                            await Task.yield()
                            inFlight.value.subtract(1, ordering: .sequentiallyConsistent)
                            // Neutral and success free the slot; successes never reach the threshold.
                            breaker.record(i.isMultiple(of: 2) ? .neutral : .success, for: permit)
                        }
                        return count
                    }
                }
                return await group.reduce(0, +)
            }
            #expect(inFlight.maximum.load(ordering: .sequentiallyConsistent) <= probes)
            #expect(admitted >= 1)
            #expect(breaker.currentState == .halfOpen)
            #expect(breaker.snapshot().probesInFlight == 0)
        }
    }

    @Test("exactly halfOpenProbes permits when nobody reports")
    func concurrentAcquireWithoutReports() async throws {
        let clock = ManualClock()
        let breaker = try trippedBreaker(
            CircuitBreakerPolicy(consecutiveFailures: 1, halfOpenProbes: 2), clock: clock
        )
        clock.advance(by: .seconds(60))
        let admitted = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<100 { group.addTask { (try? breaker.acquire()) != nil } }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(admitted == 2)
        #expect(breaker.snapshot().totals.rejected == 98)
    }

    @Test("late results from an older generation are ignored through the class too")
    func lateResults() throws {
        let clock = ManualClock()
        let breaker = try CircuitBreaker(name: "x", policy: CircuitBreakerPolicy(consecutiveFailures: 1), clock: clock)
        let slow = try breaker.acquire()
        breaker.record(.failure, for: try breaker.acquire())
        clock.advance(by: .seconds(60))
        let probe = try breaker.acquire()
        breaker.record(.failure, for: slow)
        #expect(breaker.currentState == .halfOpen)
        breaker.record(.success, for: probe)
        #expect(breaker.snapshot().totals.ignored == 1)
    }

    @Test("run returns the value, records failures, and uses the fallback when rejecting")
    func runWithFallback() async throws {
        let clock = ManualClock()
        let breaker = try CircuitBreaker(name: "backend", policy: CircuitBreakerPolicy(consecutiveFailures: 2), clock: clock)
        let calls = Tally()
        @Sendable func fetch(_ fail: Bool) async throws -> String {
            calls.value.add(1, ordering: .relaxed)
            if fail { throw BackendError() }
            return "fresh"
        }
        #expect(try await breaker.run { try await fetch(false) } == "fresh")
        for _ in 0..<2 {
            await #expect(throws: BackendError.self) { try await breaker.run { try await fetch(true) } }
        }
        #expect(breaker.currentState == .open)
        let value = try await breaker.run(fallback: { rejection in "cached (\(rejection.state))" }) {
            try await fetch(false)
        }
        #expect(value == "cached (OPEN)")
        #expect(calls.value.load(ordering: .relaxed) == 3)  // the rejected call never ran
        await #expect(throws: CircuitBreakerRejection.self) { try await breaker.run { try await fetch(false) } }
    }

    @Test("an error predicate decides how thrown errors count")
    func runWithPredicate() async throws {
        let breaker = try CircuitBreaker(name: "db", policy: CircuitBreakerPolicy(consecutiveFailures: 1), clock: ManualClock())
        let classify: (any Error) -> CallOutcome = { $0 is NotFound ? .success : .failure }
        for _ in 0..<10 {
            await #expect(throws: NotFound.self) {
                try await breaker.run(classifyingErrors: classify) { () async throws -> Int in throw NotFound() }
            }
        }
        #expect(breaker.currentState == .closed)
        // Default classification: RPCError by code, cancellation neutral, anything else a failure.
        await #expect(throws: RPCError.self) {
            try await breaker.run { () async throws -> Int in throw RPCError(code: .invalidArgument, message: "") }
        }
        await #expect(throws: CancellationError.self) {
            try await breaker.run { () async throws -> Int in throw CancellationError() }
        }
        #expect(breaker.currentState == .closed)
        await #expect(throws: NotFound.self) { try await breaker.run { () async throws -> Int in throw NotFound() } }
        #expect(breaker.currentState == .open)
    }

    @Test("operators: forceOpen, disable, reset")
    func operators() throws {
        let breaker = try CircuitBreaker(name: "ops", clock: ManualClock())
        breaker.forceOpen()
        #expect(throws: CircuitBreakerRejection.self) { try breaker.acquire() }
        do { _ = try breaker.acquire() } catch {
            #expect(error.message == "circuit breaker 'ops' is FORCED_OPEN; held open by an operator")
        }
        breaker.disable()
        for _ in 0..<20 { breaker.record(.failure, for: try breaker.acquire()) }
        #expect(breaker.currentState == .disabled)
        breaker.reset()
        #expect(breaker.currentState == .closed)
    }

    @Test("the event stream receives transitions and rejections in order")
    func eventStream() async throws {
        let clock = ManualClock()
        let observed = TSanMutex<[CircuitBreakerEvent]>([])
        let breaker = try CircuitBreaker(
            name: "events", policy: CircuitBreakerPolicy(consecutiveFailures: 1, jitter: 0, successThreshold: 1), clock: clock,
            observer: { event in observed.withLock { $0.append(event) } }
        )
        let events = breaker.events()
        breaker.record(.failure, for: try breaker.acquire())
        _ = try? breaker.acquire()
        clock.advance(by: .seconds(60))
        breaker.record(.success, for: try breaker.acquire())
        breaker.forceOpen()
        breaker.reset()
        var received: [CircuitBreakerEvent] = []
        for await event in events {
            received.append(event)
            if received.count == 6 { break }
        }
        let key = BreakerKey(name: "events")
        let expected: [CircuitBreakerEvent] = [
            .transition(key: key, .init(from: .closed, to: .open, reason: .consecutiveFailures(1), generation: 2)),
            .rejection(.init(key: key, state: .open, retryAfter: .seconds(60))),
            .transition(key: key, .init(from: .open, to: .halfOpen, reason: .openDurationElapsed, generation: 3)),
            .transition(key: key, .init(from: .halfOpen, to: .closed, reason: .probesSucceeded(1), generation: 4)),
            .transition(key: key, .init(from: .closed, to: .forcedOpen, reason: .forcedOpen, generation: 5)),
            .transition(key: key, .init(from: .forcedOpen, to: .closed, reason: .reset, generation: 6)),
        ]
        #expect(received == expected)
        #expect(observed.withLock { $0 } == expected)
    }

    @Test("a slow event reader keeps the newest events")
    func boundedBuffer() async throws {
        let breaker = try trippedBreaker()
        let events = breaker.events(bufferingNewest: 2)
        for _ in 0..<10 { _ = try? breaker.acquire() }
        breaker.reset()
        var received: [CircuitBreakerEvent] = []
        for await event in events {
            received.append(event)
            if received.count == 2 { break }
        }
        guard case .rejection = received.first, case .transition(_, let t) = received.last else {
            Issue.record("unexpected events \(received)")
            return
        }
        #expect(t.to == .closed)
    }
}

@Suite("CircuitBreakerRegistry")
struct CircuitBreakerRegistryTests {
    @Test("one breaker per method by default, per service when the policy says so")
    func scopes() throws {
        let registry = CircuitBreakerRegistry(clock: ManualClock())
        let get = MethodDescriptor(service: "echo.Echo", method: "Get")
        let update = MethodDescriptor(service: "echo.Echo", method: "Update")
        let perMethod = CircuitBreakerPolicy(consecutiveFailures: 1, jitter: 0)
        let a = try registry.breaker(target: "localhost:1", method: get, policy: perMethod)
        #expect(try registry.breaker(target: "localhost:1", method: get, policy: perMethod) === a)
        let b = try registry.breaker(target: "localhost:1", method: update, policy: perMethod)
        #expect(a !== b)
        #expect(try registry.breaker(target: "localhost:2", method: get, policy: perMethod) !== a)
        a.record(.failure, for: try a.acquire())
        #expect(a.currentState == .open)
        #expect(b.currentState == .closed)  // independent

        var perService = perMethod
        perService.scope = .service
        let other = MethodDescriptor(service: "echo.Other", method: "Get")
        let s1 = try registry.breaker(target: "localhost:1", method: other, policy: perService)
        let s2 = try registry.breaker(target: "localhost:1", method: MethodDescriptor(service: "echo.Other", method: "Put"), policy: perService)
        #expect(s1 === s2)
        #expect(s1.key.description == "localhost:1/echo.Other")
        #expect(a.key.description == "localhost:1/echo.Echo/Get")

        let snapshots = registry.snapshots()
        #expect(snapshots.map(\.key.description) == [
            "localhost:1/echo.Echo/Get", "localhost:1/echo.Echo/Update", "localhost:1/echo.Other", "localhost:2/echo.Echo/Get",
        ])
        #expect(snapshots[0].state == .open)
        #expect(snapshots[0].timeUntilProbe == .seconds(60))
    }

    @Test("the registry knows whether any breaker may reject: OPEN, HALF_OPEN and FORCED_OPEN may, CLOSED and DISABLED not")
    func activityFollowsEveryBreaker() throws {
        let clock = ManualClock()
        let registry = CircuitBreakerRegistry(clock: clock)
        let policy = CircuitBreakerPolicy(consecutiveFailures: 1, openDuration: .seconds(10), jitter: 0, successThreshold: 1)
        let a = try registry.breaker(target: "t", method: MethodDescriptor(service: "s", method: "A"), policy: policy)
        let b = try registry.breaker(target: "t", method: MethodDescriptor(service: "s", method: "B"), policy: policy)
        #expect(!registry.activity.anyMayReject)
        a.record(.failure, for: try a.acquire())
        b.forceOpen()
        #expect(registry.activity.anyMayReject)
        #expect(a.rejectionIfRejecting()?.state == .open)
        #expect(a.snapshot().totals.rejected == 1)
        b.disable()
        #expect(registry.activity.anyMayReject)  // a is still OPEN
        clock.advance(by: .seconds(10))
        #expect(a.rejectionIfRejecting() == nil)  // its probe is due: acquire decides
        a.record(.success, for: try a.acquire())  // HALF_OPEN, then CLOSED
        #expect(a.currentState == .closed)
        #expect(!registry.activity.anyMayReject)
        b.reset()
        #expect(!registry.activity.anyMayReject)
    }

    @Test("registry events carry every breaker's transitions")
    func registryEvents() async throws {
        let registry = CircuitBreakerRegistry(clock: ManualClock())
        let events = registry.events()
        let breaker = try registry.breaker(for: BreakerKey(name: "a"), policy: CircuitBreakerPolicy(consecutiveFailures: 1))
        breaker.record(.failure, for: try breaker.acquire())
        // The first event must come (the for-await would pass by running zero times if the sequence
        // simply ended).
        var iterator = events.makeAsyncIterator()
        let first = await iterator.next()
        let event = try #require(first, "the registry's event sequence ended without an event")
        #expect(event.key == BreakerKey(name: "a"))
    }
}

@Suite("Outcome classification")
struct OutcomeClassifierTests {
    @Test("default sets: server and transport failures fail, caller cancellation is neutral, answers succeed")
    func defaults() {
        let c = OutcomeClassifier.default
        for code: Status.Code in [.unavailable, .deadlineExceeded, .internalError, .unknown, .resourceExhausted, .dataLoss] {
            #expect(c.classify(code) == .failure, "\(code)")
        }
        #expect(c.classify(.cancelled) == .neutral)
        for code: Status.Code in [
            .ok, .invalidArgument, .notFound, .alreadyExists, .permissionDenied, .unauthenticated,
            .failedPrecondition, .aborted, .outOfRange, .unimplemented,
        ] {
            #expect(c.classify(code) == .success, "\(code)")
        }
        #expect(c.classify(RPCError(code: .unavailable, message: "")) == .failure)
        #expect(c.classify(RPCError(code: .notFound, message: "")) == .success)
        #expect(c.classify(CancellationError()) == .neutral)
        #expect(c.classify(BackendError()) == .failure)
    }

    @Test("sets are configurable")
    func custom() {
        let c = OutcomeClassifier(failureCodes: [.notFound], neutralCodes: [.unavailable])
        #expect(c.classify(.notFound) == .failure)
        #expect(c.classify(.unavailable) == .neutral)
        #expect(c.classify(.internalError) == .success)
        #expect(c.classify(.ok) == .success)
    }
}
