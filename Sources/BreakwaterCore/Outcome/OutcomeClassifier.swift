/// Classifies gRPC statuses and thrown errors into ``CallOutcome``s.
///
/// The defaults: the server-side and transport failures count as
/// failures, caller cancellation is neutral, and everything else (OK and the request-shaped
/// codes) is a success, because the server answered.
///
/// `DEADLINE_EXCEEDED` is a failure by default. When the caller's own deadline was already spent
/// before an attempt started, the caller of the breaker should record ``CallOutcome/neutral``
/// explicitly: only it knows where the deadline came from.
public struct OutcomeClassifier: Sendable, Hashable {
    /// Codes that count as failures.
    public var failureCodes: Set<Status.Code>
    /// Codes that are neutral: not counted, and free a probe slot.
    public var neutralCodes: Set<Status.Code>

    /// The default failure codes: `UNAVAILABLE`, `DEADLINE_EXCEEDED`, `INTERNAL`, `UNKNOWN`,
    /// `RESOURCE_EXHAUSTED` and `DATA_LOSS`.
    public static let defaultFailureCodes: Set<Status.Code> = [
        .unavailable, .deadlineExceeded, .internalError, .unknown, .resourceExhausted, .dataLoss,
    ]
    /// The default neutral codes: `CANCELLED`.
    public static let defaultNeutralCodes: Set<Status.Code> = [.cancelled]

    /// Creates a classifier. A code in both sets counts as a failure.
    public init(
        failureCodes: Set<Status.Code> = OutcomeClassifier.defaultFailureCodes,
        neutralCodes: Set<Status.Code> = OutcomeClassifier.defaultNeutralCodes
    ) {
        self.failureCodes = failureCodes
        self.neutralCodes = neutralCodes
    }

    /// The classifier with the default sets.
    public static let `default` = OutcomeClassifier()

    /// Classifies a status code: failure if in ``failureCodes``, neutral if in ``neutralCodes``,
    /// success otherwise. `OK` is always a success.
    public func classify(_ code: Status.Code) -> CallOutcome {
        if code == .ok { return .success }
        if failureCodes.contains(code) { return .failure }
        if neutralCodes.contains(code) { return .neutral }
        return .success
    }

    /// Classifies a thrown error.
    ///
    /// An `RPCError` is classified by its code; a `CancellationError` is neutral (the caller gave
    /// up); any other error is a failure, as a transport error would be.
    public func classify(_ error: any Error) -> CallOutcome {
        switch error {
        case let error as RPCError: classify(error.code)
        case is CancellationError: .neutral
        default: .failure
        }
    }
}
