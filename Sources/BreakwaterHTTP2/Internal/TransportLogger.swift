import CoreMetrics
import Logging

/// A value a transport configuration carries that is no part of its equality: two configurations that
/// differ only in where they log or report metrics are the same configuration.
struct Uncompared<Value: Sendable>: Hashable, Sendable {
    var value: Value

    static func == (lhs: Uncompared, rhs: Uncompared) -> Bool { true }
    func hash(into hasher: inout Hasher) {}
}

/// The transports' default logger: it drops everything, so they say nothing until given a logger.
enum TransportLogger {
    static let silent = Logger(label: "breakwater.http2", factory: { _ in SwiftLogNoOpLogHandler() })
}
