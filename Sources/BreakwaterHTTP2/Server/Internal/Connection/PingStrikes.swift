/// How a server judges its client's PINGs (gRPC's keepalive enforcement), as a value: a PING sooner than
/// the permitted interval after the previous one is a strike, a PING after the server sent DATA or
/// HEADERS wipes the slate (the client had reason to wonder), and one strike more than `maxStrikes` ends
/// the connection with GOAWAY ENHANCE_YOUR_CALM "too_many_pings". The rules are grpc-go's, so that clients
/// tuned against gRPC servers behave the same here.
struct PingStrikes: Sendable {
    typealias Instant = ContinuousClock.Instant

    enum Verdict: Equatable {
        case accepted
        case strike
        /// Over the limit: GOAWAY ENHANCE_YOUR_CALM "too_many_pings" and close.
        case tooMany
    }

    /// Without streams, when PINGs without calls are not permitted, one PING per this interval is
    /// still tolerated (grpc-go's two hours).
    static let withoutCallsInterval: Duration = .seconds(2 * 3600)

    let minimumInterval: Duration
    let permitWithoutCalls: Bool
    let maxStrikes: Int
    private(set) var strikes = 0
    private var lastPingAt: Instant?
    /// DATA or HEADERS went out since the last PING.
    private var sentSinceLastPing = false

    init(minimumInterval: Duration, permitWithoutCalls: Bool, maxStrikes: Int) {
        self.minimumInterval = minimumInterval
        self.permitWithoutCalls = permitWithoutCalls
        self.maxStrikes = maxStrikes
    }

    /// The server sent DATA or HEADERS.
    mutating func sentDataOrHeaders() {
        sentSinceLastPing = true
    }

    /// A PING (not an acknowledgement) arrived at `now`.
    mutating func pingReceived(now: Instant, hasStreams: Bool) -> Verdict {
        defer { lastPingAt = now }
        if sentSinceLastPing {
            sentSinceLastPing = false
            strikes = 0
            return .accepted
        }
        let interval = hasStreams || permitWithoutCalls ? minimumInterval : Self.withoutCallsInterval
        guard let last = lastPingAt, now < last + interval else { return .accepted }
        strikes += 1
        return strikes > maxStrikes ? .tooMany : .strike
    }
}
