import ArgumentParser
import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterObservability
import BreakwaterResilience
import EchoService
import Foundation
import Logging
import Synchronization

/// Counts the attempts that pass it; placed inside the resilience chain, it sees only the attempts
/// the circuit breaker admitted, that is those that went to the network.
final class AttemptCounter: ClientInterceptor {
    private let attempts = Mutex(0)

    var count: Int { attempts.withLock { $0 } }

    func intercept(
        request: ClientRequest,
        context: ClientContext,
        next: @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        attempts.withLock { $0 += 1 }
        return try await next(request, context)
    }
}

/// The next call's number and the counts, shared by concurrent callers.
final class SharedTally: Sendable {
    let state = Mutex((next: 1, tally: Tally()))
}

/// Counts of the calls' outcomes.
struct Tally {
    var succeeded = 0
    var failed = 0
    var rejected = 0
    var fallbacks = 0
}

/// The rejection the fallback last answered, taken by the call loop (calls run one at a time).
final class FallbackLog: Sendable {
    private let last = Mutex<CircuitBreakerRejection?>(nil)

    func record(_ rejection: CircuitBreakerRejection) {
        last.withLock { $0 = rejection }
    }

    func take() -> CircuitBreakerRejection? {
        last.withLock { value in
            defer { value = nil }
            return value
        }
    }
}

/// Prints the breakers' state changes from the registry's event stream, as they happen, and lets the
/// call loop wait until everything the registry reported so far was printed (so no line is lost at exit
/// and each change prints before the line of the call that caused it).
final class BreakerEventPrinter: Sendable {
    struct State {
        var reported = 0
        var handled = 0
        var waiters: [(target: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())
    private let started: ContinuousClock.Instant?

    /// `started`: print each line with the time since then; `nil`: no time stamps.
    init(started: ContinuousClock.Instant?) {
        self.started = started
    }

    /// Called by the registry's observer for each event, after the event entered the stream.
    func reported() {
        state.withLock { $0.reported += 1 }
    }

    /// Prints the transitions of `events` until the stream ends or the task is cancelled.
    func run(_ events: AsyncStream<CircuitBreakerEvent>) async {
        for await event in events {
            if case .transition(let key, let transition) = event {
                let prefix = started.map { EchoClientCommand.stamp(since: $0) + " " } ?? ""
                say("\(prefix)breaker \(key): \(transition)")
            }
            let ready = state.withLock { s in
                s.handled += 1
                let handled = s.handled
                let ready = s.waiters.filter { $0.target <= handled }.map(\.continuation)
                s.waiters.removeAll { $0.target <= handled }
                return ready
            }
            for waiter in ready { waiter.resume() }
        }
    }

    /// Returns once every event reported so far was printed, or after a second at most (a safety bound
    /// in case the stream dropped an event).
    func flush() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let done = self.state.withLock { s -> Bool in
                        if s.handled >= s.reported { return true }
                        s.waiters.append((s.reported, c))
                        return false
                    }
                    if done { c.resume() }
                }
            }
            group.addTask { try? await Task.sleep(for: .seconds(1)) }
            await group.next()
            group.cancelAll()
            // A waiter left behind by the safety bound is resumed, so that its task (and the group) ends.
            let leftover = state.withLock { s in
                defer { s.waiters.removeAll() }
                return s.waiters.map(\.continuation)
            }
            for waiter in leftover { waiter.resume() }
        }
    }
}

/// Writes a line to standard output at once (no buffering: a script that pipes the output sees each
/// line when it happens, in order).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
