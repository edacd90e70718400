@_spi(Locking) import BreakwaterCore
import Logging

/// A swift-log handler that keeps every line, for tests that check what is logged.
public final class CapturedLog: Sendable {
    /// One logged line.
    public struct Line: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]
    }

    private let lines = TSanMutex<[Line]>([])

    public init() {}

    /// The lines logged so far.
    public var recorded: [Line] { lines.withLock { $0 } }

    /// A logger whose lines this keeps, at `level` and above.
    public func logger(label: String = "test", level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: label) { _ in Handler(log: self) }
        logger.logLevel = level
        return logger
    }

    fileprivate func append(_ line: Line) { lines.withLock { $0.append(line) } }

    private struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            log.append(Line(level: event.level, message: event.message.description, metadata: merged.mapValues { "\($0)" }))
        }
    }
}
