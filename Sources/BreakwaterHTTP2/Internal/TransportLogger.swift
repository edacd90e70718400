import Logging

/// The logger a transport configuration carries: no output unless one is given, and no part of the
/// configuration's equality (two configurations that differ only in where they log are the same
/// configuration).
struct TransportLogger: Hashable, Sendable {
    var logger: Logger

    /// A logger that drops everything: the transports say nothing until given a logger.
    static let silent = TransportLogger(logger: Logger(label: "breakwater.http2", factory: { _ in SwiftLogNoOpLogHandler() }))

    static func == (lhs: TransportLogger, rhs: TransportLogger) -> Bool { true }
    func hash(into hasher: inout Hasher) {}
}
