/// When a connection pings its peer to learn whether it is still there, and when it gives up on it
/// (gRFC A8 keepalive, and the client's PING after a call that ended with nothing heard), as a value:
/// each event takes the time, and what the session has read, and returns what to do with the
/// connection's one keepalive timer. `HTTP2Session` owns the socket and the timer and carries the actions
/// out; tests drive the rules with instants of their own.
///
/// Proof of life is anything read from the peer after the PING, not only its acknowledgement: a peer
/// whose acknowledgement waits behind DATA it is still writing is alive (grpc-go counts any read the same
/// way). A quiet spell is measured from the last read, so a busy connection sends no PING at all. When the
/// session does not note the time of each read (long intervals: a clock read per read would buy nothing),
/// a timer that finds new reads starts a whole new interval, as grpc-go does: the PING then comes between
/// one and two intervals after the last read.
struct KeepaliveMachine: Sendable {
    typealias Instant = ContinuousClock.Instant

    /// Keepalive as configured: a PING after `time` without reads, closed when nothing is read within
    /// `timeout` after it; without streams only when `permitWithoutCalls`.
    struct Policy: Sendable, Equatable {
        var time: Duration
        var timeout: Duration
        var permitWithoutCalls: Bool
    }

    enum Action: Equatable {
        case none
        /// Arm the timer for this instant (replacing the one armed, if any).
        case arm(at: Instant)
        /// Send a PING, and arm the timer for its deadline.
        case ping(deadline: Instant)
        /// Nothing was read within the bound after a PING: close the connection with this reason.
        case close(reason: String)
    }

    enum State: Sendable, Equatable {
        /// No timer runs: no policy, or no streams while pings without calls are not permitted.
        case dormant
        /// Nothing to prove before `since` (the last read, or when watching began), when the session had
        /// made `reads` reads; a PING is due at `since + time`.
        case waiting(since: Instant, reads: Int)
        /// A PING went out, for `cause`, when the session had made `reads` reads; alive once it has made
        /// more, dead at `deadline`.
        case pinged(reads: Int, deadline: Instant, cause: Cause)
        /// The connection was found dead.
        case closed
    }

    /// Why a PING went out: it names the failure when nothing comes back.
    enum Cause: Sendable, Equatable {
        case keepalive
        /// A call ended by its deadline or cancellation with nothing read since it started; the PING
        /// has `bound` to be answered.
        case silentCall(bound: Duration)
        /// A probe waits to be sent until the connection shows it is alive, within `bound`.
        case probe(bound: Duration)
    }

    let policy: Policy?
    private(set) var state: State = .dormant
    /// The last answer to one of our PINGs: when, and the session's read count then. A peer that
    /// answered and has sent nothing since is not PINGed again for a silent call within
    /// `quietPeerPingSpacing`: gRPC servers count a PING that comes sooner than 5 minutes after the last
    /// one, with nothing sent in between, as a strike, and close the connection ("too_many_pings") after
    /// two, which would end every call on it, healthy quiet streams included.
    private(set) var lastAnswer: (at: Instant, reads: Int)?
    static let quietPeerPingSpacing: Duration = .seconds(300)

    init(policy: Policy?) {
        self.policy = policy
    }

    /// The connection is up (the client has the server's SETTINGS; the server has started).
    mutating func start(now: Instant, reads: Int, hasStreams: Bool) -> Action {
        guard let policy, state == .dormant else { return .none }
        guard hasStreams || policy.permitWithoutCalls else { return .none }
        state = .waiting(since: now, reads: reads)
        return .arm(at: now + policy.time)
    }

    /// The connection's first stream (after none) started: a dormant keepalive wakes up.
    mutating func streamsBecameActive(now: Instant, reads: Int) -> Action {
        guard let policy, state == .dormant else { return .none }
        state = .waiting(since: now, reads: reads)
        return .arm(at: now + policy.time)
    }

    /// The timer fired. `reads` counts the session's reads so far; `lastRead` is when the last one was
    /// made, nil when the session does not note it.
    mutating func timerFired(now: Instant, reads: Int, lastRead: Instant?, hasStreams: Bool) -> Action {
        switch state {
        case .dormant, .closed:
            return .none
        case .waiting(let since, let readsThen):
            let quietSince: Instant
            if let lastRead {
                quietSince = max(since, lastRead)
            } else {
                quietSince = reads > readsThen ? now : since
            }
            return quiet(since: quietSince, now: now, reads: reads, hasStreams: hasStreams)
        case .pinged(let readsAtPing, let deadline, let cause):
            if now < deadline { return .arm(at: deadline) }
            if reads > readsAtPing {
                // Something arrived, the acknowledgement is behind it: alive.
                lastAnswer = (now, reads)
                return quiet(since: lastRead ?? now, now: now, reads: reads, hasStreams: hasStreams)
            }
            state = .closed
            switch cause {
            case .keepalive:
                return .close(reason: "keepalive ping not acknowledged within \(policy?.timeout ?? .zero)")
            case .silentCall(let bound):
                return .close(
                    reason: "connection silent: a call ended with nothing read since it started, and a PING got no answer within \(bound)")
            case .probe(let bound):
                return .close(reason: "connection silent: a PING before a probe got no answer within \(bound)")
            }
        }
    }

    /// The acknowledgement of our PING arrived.
    mutating func pingAcknowledged(now: Instant, reads: Int) -> Action {
        guard case .pinged = state else { return .none }
        lastAnswer = (now, reads)
        guard let policy else {
            state = .dormant
            return .none
        }
        state = .waiting(since: now, reads: reads)
        return .arm(at: now + policy.time)
    }

    /// Quiet since `since`: wait for the rest of `time`, go dormant, or ping.
    private mutating func quiet(since: Instant, now: Instant, reads: Int, hasStreams: Bool) -> Action {
        guard let policy else {
            state = .dormant
            return .none
        }
        if now < since + policy.time {
            state = .waiting(since: since, reads: reads)
            return .arm(at: since + policy.time)
        }
        if !hasStreams && !policy.permitWithoutCalls {
            // Woken again by the next stream.
            state = .dormant
            return .none
        }
        let deadline = now + policy.timeout
        state = .pinged(reads: reads, deadline: deadline, cause: .keepalive)
        return .ping(deadline: deadline)
    }

    /// A call on this connection ended by its deadline or cancellation, and nothing was read from the
    /// connection since it started: the peer may be gone without a word. PING it, with `bound` for the
    /// answer; a PING already out keeps going (with the shorter deadline of the two).
    mutating func callEndedSilently(now: Instant, reads: Int, bound: Duration) -> Action {
        if let lastAnswer, reads == lastAnswer.reads, now < lastAnswer.at + Self.quietPeerPingSpacing {
            // Answered lately, and silent since: a server that holds its calls, not a dead path (a PING
            // now would count against us).
            return .none
        }
        return ping(now: now, reads: reads, bound: bound, cause: .silentCall(bound: bound))
    }

    /// A probe is to go out on this connection once it shows it is alive: PING it, with `bound` for the
    /// answer (a PING already out serves, with the shorter deadline of the two). Anything read after
    /// this proves life; the session tells the connection.
    mutating func probeWaits(now: Instant, reads: Int, bound: Duration) -> Action {
        ping(now: now, reads: reads, bound: bound, cause: .probe(bound: bound))
    }

    private mutating func ping(now: Instant, reads: Int, bound: Duration, cause: Cause) -> Action {
        let deadline = now + bound
        switch state {
        case .closed:
            return .none
        case .pinged(let readsAtPing, let current, _):
            guard deadline < current else { return .none }
            state = .pinged(reads: readsAtPing, deadline: deadline, cause: cause)
            return .arm(at: deadline)
        case .dormant, .waiting:
            state = .pinged(reads: reads, deadline: deadline, cause: cause)
            return .ping(deadline: deadline)
        }
    }
}
