/// Key-value pairs sent with a call: custom request headers, response headers and trailers.
///
/// Keys are lower-cased ASCII. Keys ending in `-bin` carry binary values, which travel base64-encoded;
/// all other keys carry printable ASCII strings. A key may appear more than once; order is kept.
public struct Metadata: Sendable, Hashable, ExpressibleByDictionaryLiteral, Sequence, CustomStringConvertible {
    /// A metadata value: a string for ASCII keys, bytes for `-bin` keys.
    public enum Value: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
        case string(String)
        case binary([UInt8])

        public init(stringLiteral value: String) { self = .string(value) }

        public var description: String {
            switch self {
            case .string(let s): s
            case .binary(let b): "<\(b.count) bytes>"
            }
        }
    }

    /// One entry.
    public struct Element: Sendable, Hashable {
        public var key: String
        public var value: Value
        public init(key: String, value: Value) {
            self.key = key
            self.value = value
        }
    }

    @usableFromInline var elements: [Element]

    /// Creates empty metadata.
    public init() { elements = [] }

    public init(dictionaryLiteral pairs: (String, Value)...) {
        elements = []
        for (k, v) in pairs { add(v, forKey: k) }
    }

    /// Adds a string value. The key is lower-cased.
    public mutating func addString(_ value: String, forKey key: String) {
        elements.append(Element(key: key.lowercased(), value: .string(value)))
    }

    /// Adds a binary value. The key is lower-cased and should end in `-bin`.
    public mutating func addBinary(_ value: [UInt8], forKey key: String) {
        elements.append(Element(key: key.lowercased(), value: .binary(value)))
    }

    /// Adds a value as is.
    public mutating func add(_ value: Value, forKey key: String) {
        elements.append(Element(key: key.lowercased(), value: value))
    }

    /// Removes every value for `key`.
    public mutating func removeAll(forKey key: String) {
        let k = key.lowercased()
        elements.removeAll { $0.key == k }
    }

    /// Replaces every value of `key` with one string value.
    public mutating func replaceOrAddString(_ value: String, forKey key: String) {
        removeAll(forKey: key)
        addString(value, forKey: key)
    }

    /// All values for `key`, in order.
    public subscript(key: String) -> [Value] {
        let k = key.lowercased()
        return elements.compactMap { $0.key == k ? $0.value : nil }
    }

    /// The string values for `key`, in order.
    public subscript(stringValues key: String) -> [String] {
        self[key].compactMap { if case .string(let s) = $0 { s } else { nil } }
    }

    /// The binary values for `key`, in order.
    public subscript(binaryValues key: String) -> [[UInt8]] {
        self[key].compactMap { if case .binary(let b) = $0 { b } else { nil } }
    }

    /// The first string value for `key`.
    public func firstString(forKey key: String) -> String? { self[stringValues: key].first }

    public var count: Int { elements.count }
    public var isEmpty: Bool { elements.isEmpty }

    public func makeIterator() -> IndexingIterator<[Element]> { elements.makeIterator() }

    /// Appends all of `other`.
    public mutating func add(contentsOf other: Metadata) { elements.append(contentsOf: other.elements) }

    public var description: String {
        "[" + elements.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "]"
    }
}
