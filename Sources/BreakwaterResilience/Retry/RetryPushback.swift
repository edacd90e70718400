import BreakwaterCore

/// A server's retry pushback, from the `grpc-retry-pushback-ms` trailer (gRFC A6).
public enum RetryPushback: Sendable, Hashable {
    /// Retry after this delay (instead of the computed backoff).
    case retryAfter(Duration)
    /// Do not retry this call.
    case doNotRetry

    /// The trailer's name.
    public static let metadataKey = "grpc-retry-pushback-ms"

    /// Parses the trailer's value: a non-negative decimal integer is a delay in milliseconds;
    /// anything else (negative, empty, not a number, too large) means do not retry.
    public init(headerValue value: String) {
        let trimmed = value.trimmingASCIIWhitespace()
        guard !trimmed.isEmpty, trimmed.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let ms = Int64(trimmed), ms <= Int64.max / 1_000_000
        else {
            self = .doNotRetry
            return
        }
        self = .retryAfter(.milliseconds(ms))
    }

    /// The trailer's value, as a server sends it: whole milliseconds (rounded down), or `-1` for
    /// ``doNotRetry``. `RetryPushback(headerValue:)` reads it back.
    public var headerValue: String {
        switch self {
        case .retryAfter(let delay):
            let (seconds, attoseconds) = max(delay, .zero).components
            return "\(seconds * 1000 + attoseconds / 1_000_000_000_000_000)"
        case .doNotRetry:
            return "-1"
        }
    }

    /// The pushback in `metadata` (the response trailers), or `nil` when the server sent none.
    /// Several values: the first one counts.
    public init?(metadata: Metadata) {
        guard let value = metadata.firstString(forKey: Self.metadataKey) else { return nil }
        self.init(headerValue: value)
    }
}

extension String {
    fileprivate func trimmingASCIIWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = firstIndex(where: { !isSpace($0) }) else { return "" }
        let end = lastIndex(where: { !isSpace($0) })!
        return self[start...end]
    }
}
