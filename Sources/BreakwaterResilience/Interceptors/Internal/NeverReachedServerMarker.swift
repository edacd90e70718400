import BreakwaterCore

extension RPCError {
    /// Whether this error says its stream never reached the server (Core marks it with
    /// `StreamNeverReachedServer` as the cause, or a test may use its own marker type).
    var streamNeverReachedServer: Bool {
        neverReachedServer || cause is any NeverReachedServerMarker
    }
}

/// A marker a test can throw as an `RPCError` cause to simulate a stream the server never saw.
protocol NeverReachedServerMarker: Error {}
