import BreakwaterCore
import Testing

@testable import BreakwaterResilience

@Suite("HedgingState: the hedging decisions, with time passed in")
struct HedgingStateTests {
    static let policy = HedgingPolicy(maxAttempts: 3, hedgingDelay: .seconds(1), nonFatalStatusCodes: [.unavailable])

    @Test("hedges are due every hedgingDelay, up to maxAttempts")
    func delays() {
        var state = HedgingState(policy: Self.policy)
        state.start(now: .zero)
        #expect(state.nextHedgeAt == .seconds(1))
        #expect(state.timerFired(now: .milliseconds(500), mayHedge: true) == .wait)
        #expect(state.timerFired(now: .seconds(1), mayHedge: true) == .hedge(previousAttempts: 1))
        #expect(state.nextHedgeAt == .seconds(2))
        #expect(state.timerFired(now: .seconds(2), mayHedge: true) == .hedge(previousAttempts: 2))
        #expect(state.nextHedgeAt == nil)
        #expect(state.attemptsStarted == 3)
        #expect(state.inFlight == 3)
    }

    @Test("a non-fatal failure hedges at once and restarts the delay; a fatal one fails")
    func failures() {
        var state = HedgingState(policy: Self.policy)
        state.start(now: .zero)
        let action = state.attemptFailed(code: .unavailable, pushback: nil, mayHedge: true, remaining: nil, now: .milliseconds(200))
        #expect(action == .hedge(previousAttempts: 1))
        #expect(state.nextHedgeAt == .milliseconds(1200))
        #expect(state.attemptFailed(code: .internalError, pushback: nil, mayHedge: true, remaining: nil, now: .milliseconds(300)) == .fail)
        #expect(state.nextHedgeAt == nil)
    }

    @Test("with nothing left to send, the call waits for the attempts in flight, then fails")
    func exhausted() {
        var state = HedgingState(policy: HedgingPolicy(maxAttempts: 2, hedgingDelay: .zero, nonFatalStatusCodes: [.unavailable]))
        state.start(now: .zero)
        #expect(state.timerFired(now: .zero, mayHedge: true) == .hedge(previousAttempts: 1))
        #expect(state.attemptFailed(code: .unavailable, pushback: nil, mayHedge: true, remaining: nil, now: .zero) == .wait)
        #expect(state.attemptFailed(code: .unavailable, pushback: nil, mayHedge: true, remaining: nil, now: .zero) == .fail)
    }

    @Test("pushback: a delay moves the next hedge, -1 stops hedging, a delay past the deadline too")
    func pushback() {
        var state = HedgingState(policy: Self.policy)
        state.start(now: .zero)
        #expect(state.attemptFailed(
            code: .unavailable, pushback: .retryAfter(.seconds(5)), mayHedge: true, remaining: nil, now: .seconds(0.5)) == .wait)
        #expect(state.nextHedgeAt == .seconds(5.5))
        #expect(state.inFlight == 0)
        #expect(state.timerFired(now: .seconds(5.5), mayHedge: true) == .hedge(previousAttempts: 1))

        var stopped = HedgingState(policy: Self.policy)
        stopped.start(now: .zero)
        #expect(stopped.attemptFailed(code: .unavailable, pushback: .doNotRetry, mayHedge: true, remaining: nil, now: .zero) == .fail)
        #expect(stopped.nextHedgeAt == nil)

        var late = HedgingState(policy: Self.policy)
        late.start(now: .zero)
        #expect(late.attemptFailed(
            code: .unavailable, pushback: .retryAfter(.seconds(5)), mayHedge: true, remaining: .seconds(5), now: .zero) == .fail)
    }

    @Test("the throttle (or the deadline) stops hedging; a breaker rejection too")
    func stops() {
        var state = HedgingState(policy: Self.policy)
        state.start(now: .zero)
        #expect(state.timerFired(now: .seconds(1), mayHedge: true) == .hedge(previousAttempts: 1))
        #expect(state.timerFired(now: .seconds(2), mayHedge: false) == .wait)
        #expect(state.nextHedgeAt == nil)
        #expect(state.attemptFailed(code: .unavailable, pushback: nil, mayHedge: false, remaining: nil, now: .seconds(2)) == .wait)
        #expect(state.attemptRejected() == .fail)
    }

    @Test("policies are checked, and a method is either retried or hedged")
    func validation() {
        #expect(throws: ConfigurationError(path: "maxAttempts", value: "1", reason: "is not > 1")) {
            try HedgingPolicy(maxAttempts: 1).validate()
        }
        #expect(HedgingPolicy(maxAttempts: 9).maxAttempts == 5)
        #expect(throws: ConfigurationError.self) { try HedgingPolicy(maxAttempts: 2, hedgingDelay: .seconds(-1)).validate() }
        #expect(throws: ConfigurationError.self) { try HedgingPolicy(maxAttempts: 2, nonFatalStatusCodes: [.ok]).validate() }
        let retry = RetryPolicy(
            maxAttempts: 2, initialBackoff: .seconds(1), maxBackoff: .seconds(1), backoffMultiplier: 2,
            retryableStatusCodes: [.unavailable])
        let both = MethodPolicy(retry: retry, hedging: HedgingPolicy(maxAttempts: 2))
        do {
            try both.validate()
            Issue.record("a policy with retry and hedging was accepted")
        } catch {
            #expect(error.path == "hedging")
        }
        let table = PolicyTable(entries: [MethodKey(service: "a.B", method: "Get"): MethodPolicy(hedging: HedgingPolicy(maxAttempts: 1))])
        do {
            _ = try ResilienceConfiguration(policies: table, target: "t")
            Issue.record("an invalid hedging policy was accepted")
        } catch {
            #expect(error.path.hasSuffix(".hedging.maxAttempts"), "got \(error)")
        }
    }

    @Test("hedgingPolicy is read from the service config; maxAttempts above 5 is capped")
    func serviceConfig() throws {
        let config = try ServiceConfig(json: #"""
            {"methodConfig": [{"name": [{"service": "echo.Echo", "method": "Get"}],
              "hedgingPolicy": {"maxAttempts": 7, "hedgingDelay": "0.05s", "nonFatalStatusCodes": ["UNAVAILABLE", 8]}}]}
            """#)
        let policy = try #require(config.policies.entries[MethodKey(service: "echo.Echo", method: "Get")]?.hedging)
        #expect(policy == HedgingPolicy(maxAttempts: 5, hedgingDelay: .milliseconds(50), nonFatalStatusCodes: [.unavailable, .resourceExhausted]))
        let minimal = try ServiceConfig(json: #"{"methodConfig": [{"name": [{}], "hedgingPolicy": {"maxAttempts": 2}}]}"#)
        #expect(minimal.policies.defaultPolicy?.hedging == HedgingPolicy(maxAttempts: 2))
    }
}
