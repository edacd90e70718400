/// How one call counts for whatever judges the remote: a circuit breaker, or the ejection of one endpoint
/// of several.
public enum CallOutcome: Sendable, Hashable, CustomStringConvertible {
    /// The remote answered: the call counts as a success (this includes request-shaped errors
    /// such as `NOT_FOUND`, which prove the server is up).
    case success
    /// The remote failed or could not be reached: the call counts towards tripping the breaker.
    case failure
    /// The call says nothing about the remote (for example, the caller cancelled it). It is not
    /// counted, and a half-open probe slot it held is freed.
    case neutral

    public var description: String {
        switch self {
        case .success: "success"
        case .failure: "failure"
        case .neutral: "neutral"
        }
    }
}
