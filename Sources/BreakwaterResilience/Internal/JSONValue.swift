#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A parsed JSON value, so that the service-config parser can report paths and values itself.
enum JSONValue: Sendable, Hashable, Decodable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Objects and arrays are read member by member, object keys in sorted order, so that a config
    /// with several bad values always reports the same one (a `[String: JSONValue]` would be decoded
    /// in its hash order, which changes from one dictionary to the next), and the error is the bad
    /// value's own rather than "expected a dictionary" from the last type tried.
    init(from decoder: any Decoder) throws {
        if let object = try Self.keyedContainer(decoder) {
            var fields: [String: JSONValue] = [:]
            for key in object.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) {
                fields[key.stringValue] = try object.decode(JSONValue.self, forKey: key)
            }
            self = .object(fields)
            return
        }
        if var array = try Self.unkeyedContainer(decoder) {
            var items: [JSONValue] = []
            while !array.isAtEnd { items.append(try array.decode(JSONValue.self)) }
            self = .array(items)
            return
        }
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else {
            let numberError: any Error
            do {
                self = .number(try container.decode(Double.self))
                return
            } catch {
                numberError = error
            }
            do {
                self = .string(try container.decode(String.self))
            } catch DecodingError.typeMismatch {
                throw numberError  // not a string: a number that does not fit, say
            }
        }
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// The value as an object, or nil when it is something else.
    private static func keyedContainer(_ decoder: any Decoder) throws -> KeyedDecodingContainer<Key>? {
        do {
            return try decoder.container(keyedBy: Key.self)
        } catch DecodingError.typeMismatch {
            return nil
        }
    }

    /// The value as an array, or nil when it is something else.
    private static func unkeyedContainer(_ decoder: any Decoder) throws -> (any UnkeyedDecodingContainer)? {
        do {
            return try decoder.unkeyedContainer()
        } catch DecodingError.typeMismatch {
            return nil
        }
    }

    /// The value as JSON-like text for error messages: `1`, `1.5`, `"1.5"`, `{...}`.
    var description: String {
        switch self {
        case .null: "null"
        case .bool(let b): "\(b)"
        case .number(let n):
            n == n.rounded() && abs(n) < 1e15 ? "\(Int64(n))" : "\(n)"
        case .string(let s): "\"\(s)\""
        case .array(let a): "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .object(let o):
            "{" + o.keys.sorted().map { "\"\($0)\": \(o[$0]!)" }.joined(separator: ", ") + "}"
        }
    }
}
