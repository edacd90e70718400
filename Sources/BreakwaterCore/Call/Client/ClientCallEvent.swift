/// Something that happened inside one client call, as a ``ClientCallObserver`` learns it.
///
/// Core reports the attempts that reach the transport and the sizes of the messages each attempt
/// sends and receives; interceptors report what they decide (a retry and its reason, an attempt they
/// ended without the network, such as a circuit breaker's rejection). Events are reported only to the
/// observers an interceptor put in ``ClientContext/callObservers``: with none, nothing is built.
public enum ClientCallEvent: Sendable {
    /// An attempt went to the transport: one network attempt. Its number is how many attempts of the
    /// call went to the transport before it, plus one.
    case attemptStarted
    /// The attempt sent a serialized request message of this many bytes.
    case messageSent(bytes: Int)
    /// The attempt received a serialized response message of this many bytes.
    case messageReceived(bytes: Int)
    /// Another attempt is scheduled, for the retry's reason.
    case retry(ClientRetry)
    /// An interceptor let the attempt through: `by` names the kind of interceptor (a short, fixed name
    /// such as `circuit-breaker`, fit for a metric dimension), `detail` what decided (e.g. the breaker's
    /// key, and whether the attempt is a probe).
    case admitted(by: String, detail: String)
    /// An interceptor ended the attempt without calling the transport: `by` names the kind of
    /// interceptor as in ``admitted(by:detail:)``, `reason` says why (e.g. which breaker, when it probes).
    case rejected(by: String, reason: String)
}
