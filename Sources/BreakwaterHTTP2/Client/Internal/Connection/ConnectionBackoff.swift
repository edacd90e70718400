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
        let delay = current * (1 + jitter)
        current = min(current * policy.multiplier, policy.maximum)
        return max(delay, .zero)
    }

    /// A connection became ready.
    mutating func reset() {
        current = policy.initial
    }
}
