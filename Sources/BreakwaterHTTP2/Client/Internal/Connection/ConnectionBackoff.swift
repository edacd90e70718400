/// The delays between connection attempts, per gRPC's connection-backoff: `initial`, then times
/// `multiplier` after each failure up to `maximum`, each spread by plus or minus `jitter`; back to `initial`
/// once a connection is ready. A value: the randomness is passed in, so tests replay exact delays.
struct ConnectionBackoff: Sendable {
    let policy: HTTP2ClientTransport.Configuration.Backoff
    /// The delay the next failure waits, before jitter.
    private(set) var current: Duration

    init(_ policy: HTTP2ClientTransport.Configuration.Backoff) {
        self.policy = policy
        current = policy.initial
    }

    /// The wait after a failure, jittered with `random`; the next one grows.
    mutating func next(using random: inout some RandomNumberGenerator) -> Duration {
        let jitter = policy.jitter > 0 ? Double.random(in: -policy.jitter...policy.jitter, using: &random) : 0
        let delay = Self.seconds(Self.seconds(current) * (1 + jitter))
        // In seconds as a Double and capped before it becomes a Duration again: a huge multiplier (set in
        // code) saturates at the maximum instead of overflowing.
        current = Self.seconds(min(Self.seconds(current) * policy.multiplier, Self.seconds(policy.maximum)))
        return delay
    }

    private static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// A duration of `seconds`, 0 for negative or not-a-number values, at most a year.
    private static func seconds(_ value: Double) -> Duration {
        guard value > 0 else { return .zero }
        return .nanoseconds(Int64(min(value, 365 * 86_400) * 1e9))
    }

    /// A connection became ready.
    mutating func reset() {
        current = policy.initial
    }
}
