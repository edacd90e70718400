import BreakwaterCore

/// The parser's readers of single values: each names the field's path and value when it is not what the
/// service config allows.
extension ServiceConfigParser {
    static func error(_ path: String, _ value: JSONValue, _ reason: String) -> ConfigurationError {
        ConfigurationError(path: path, value: value.description, reason: reason)
    }

    static func missing(_ path: String) -> ConfigurationError {
        ConfigurationError(path: path, value: "", reason: "is required")
    }

    static func object(_ value: JSONValue, _ path: String) throws(ConfigurationError) -> Object {
        guard case .object(let fields) = value else { throw error(path, value, "is not an object") }
        return fields
    }

    static func optionalString(_ fields: Object, _ key: String, _ path: String) throws(ConfigurationError) -> String? {
        guard let value = fields[key], value != .null else { return nil }
        guard case .string(let s) = value else { throw error("\(path).\(key)", value, "is not a string") }
        return s
    }

    static func optionalDouble(_ fields: Object, _ key: String, _ path: String) throws(ConfigurationError) -> Double? {
        guard let value = fields[key], value != .null else { return nil }
        guard case .number(let n) = value else { throw error("\(path).\(key)", value, "is not a number") }
        return n
    }

    static func optionalInt(_ fields: Object, _ key: String, _ path: String) throws(ConfigurationError) -> Int? {
        guard let n = try optionalDouble(fields, key, path) else { return nil }
        guard n == n.rounded(), abs(n) < 1e15 else { throw error("\(path).\(key)", fields[key]!, "is not an integer") }
        return Int(n)
    }

    /// A message limit (a `google.protobuf.UInt32Value`: a number, or its decimal text, in 0...2^32-1).
    static func optionalByteCount(_ fields: Object, _ key: String, _ path: String) throws(ConfigurationError) -> Int? {
        guard let value = fields[key], value != .null else { return nil }
        let n: Double
        switch value {
        case .number(let number): n = number
        case .string(let text) where Double(text) != nil && text.allSatisfy(\.isNumber): n = Double(text) ?? -1
        default: throw error("\(path).\(key)", value, "is not a byte count")
        }
        guard n == n.rounded(), n >= 0, n <= Double(UInt32.max) else {
            throw error("\(path).\(key)", value, "is not an integer in 0...4294967295")
        }
        return Int(n)
    }

    static func optionalDuration(_ fields: Object, _ key: String, _ path: String) throws(ConfigurationError) -> Duration? {
        guard let value = fields[key], value != .null else { return nil }
        guard case .string(let text) = value, let duration = parseDuration(text) else {
            throw error("\(path).\(key)", value, "is not a duration like \"1.5s\"")
        }
        return duration
    }

    static func optionalCodes(_ fields: Object, _ key: String, _ path: String) throws(ConfigurationError) -> Set<Status.Code>? {
        guard let value = fields[key], value != .null else { return nil }
        guard case .array(let items) = value else { throw error("\(path).\(key)", value, "is not an array") }
        var codes = Set<Status.Code>()
        for (i, item) in items.enumerated() {
            switch item {
            case .string(let name):
                guard let code = Status.Code(name: name) else {
                    throw error("\(path).\(key)[\(i)]", item, "is not a status code name")
                }
                codes.insert(code)
            case .number(let n):
                guard n == n.rounded(), abs(n) < 100, let code = Status.Code(rawValue: Int(n)) else {
                    throw error("\(path).\(key)[\(i)]", item, "is not a status code")
                }
                codes.insert(code)
            default:
                throw error("\(path).\(key)[\(i)]", item, "is not a status code name or number")
            }
        }
        return codes
    }

    /// Parses a proto3 JSON duration: an optional `-`, whole seconds, up to nine fractional digits,
    /// and `s`, e.g. `"1.5s"`, `"0.000001s"`, `"30s"`.
    static func parseDuration(_ text: String) -> Duration? {
        var utf8 = Substring(text).utf8
        guard utf8.last == UInt8(ascii: "s") else { return nil }
        utf8 = utf8.dropLast()
        var negative = false
        if utf8.first == UInt8(ascii: "-") {
            negative = true
            utf8 = utf8.dropFirst()
        }
        let parts = utf8.split(separator: UInt8(ascii: "."), maxSplits: 1, omittingEmptySubsequences: false)
        let isDigit: (UInt8) -> Bool = { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        guard let whole = parts.first, !whole.isEmpty, whole.count <= 12, whole.allSatisfy(isDigit) else { return nil }
        var seconds: Int64 = 0
        for digit in whole { seconds = seconds * 10 + Int64(digit - UInt8(ascii: "0")) }
        var nanos: Int64 = 0
        if parts.count == 2 {
            let fraction = parts[1]
            guard !fraction.isEmpty, fraction.count <= 9, fraction.allSatisfy(isDigit) else { return nil }
            for digit in fraction { nanos = nanos * 10 + Int64(digit - UInt8(ascii: "0")) }
            for _ in fraction.count..<9 { nanos *= 10 }
        }
        let duration = Duration.seconds(seconds) + .nanoseconds(nanos)
        return negative ? .zero - duration : duration
    }
}
