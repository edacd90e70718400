import BreakwaterCore

/// A strict JSON parser (RFC 8259) for configuration text, whose errors say where: `line 3, column 15:
/// expected a value, found "}"`. Foundation's parsers give a character offset at best.
///
/// Configuration may come from anywhere, so the input is treated as hostile: nesting is limited, a
/// duplicate key is an error (which of the two would win is not obvious to the person who wrote them),
/// and invalid UTF-8 is an error, not replaced.
struct JSONParser {
    /// Where and why the text is not JSON.
    struct SyntaxError: Error, Equatable, CustomStringConvertible {
        /// 1-based line and column (in bytes) of the offending character.
        var line: Int
        var column: Int
        var reason: String

        var description: String { "line \(line), column \(column): \(reason)" }
    }

    /// Arrays and objects nested deeper than this are refused (a service config needs about 5).
    static let maxDepth = 64

    private let bytes: [UInt8]
    private var index = 0
    private var depth = 0

    /// Parses `text`: one value, surrounded by nothing but whitespace.
    static func parse(_ text: some Collection<UInt8>) throws(SyntaxError) -> JSONValue {
        var parser = JSONParser(bytes: Array(text))
        parser.skipWhitespace()
        let value = try parser.value()
        parser.skipWhitespace()
        if parser.index < parser.bytes.count { throw parser.fail("expected the end of the text") }
        return value
    }

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    // MARK: Values

    private mutating func value() throws(SyntaxError) -> JSONValue {
        guard let byte = peek() else { throw fail("expected a value") }
        switch byte {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw fail("expected a value")
        }
    }

    private mutating func object() throws(SyntaxError) -> JSONValue {
        try enter()
        index += 1  // {
        var fields: [String: JSONValue] = [:]
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object(fields)
        }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw fail("expected a key in double quotes") }
            let keyStart = index
            let key = try string()
            skipWhitespace()
            guard peek() == UInt8(ascii: ":") else { throw fail("expected \":\" after a key") }
            index += 1
            skipWhitespace()
            let member = try value()
            if fields.updateValue(member, forKey: key) != nil {
                throw fail("duplicate key \"\(PeerText.excerpt(key))\"", at: keyStart)
            }
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                depth -= 1
                return .object(fields)
            default: throw fail("expected \",\" or \"}\"")
            }
        }
    }

    private mutating func array() throws(SyntaxError) -> JSONValue {
        try enter()
        index += 1  // [
        var items: [JSONValue] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try value())
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                depth -= 1
                return .array(items)
            default: throw fail("expected \",\" or \"]\"")
            }
        }
    }

    private mutating func enter() throws(SyntaxError) {
        depth += 1
        if depth > Self.maxDepth { throw fail("nested deeper than \(Self.maxDepth) levels") }
    }

    private mutating func literal(_ word: StaticString) throws(SyntaxError) {
        let start = index
        let expected = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        for byte in expected {
            guard peek() == byte else { throw fail("expected a value", at: start) }
            index += 1
        }
    }

    // MARK: Numbers

    /// A number as the grammar has it (`-? int frac? exp?`, no leading zeros, no `+`, no `.5`), then
    /// converted by the standard library.
    private mutating func number() throws(SyntaxError) -> Double {
        let start = index
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = peek(), isDigit(first) else { throw fail("expected a digit") }
        index += 1
        if first == UInt8(ascii: "0"), let next = peek(), isDigit(next) {
            throw fail("a number cannot have a leading zero", at: start)
        }
        digits()
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard let next = peek(), isDigit(next) else { throw fail("expected a digit after \".\"") }
            digits()
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard let next = peek(), isDigit(next) else { throw fail("expected a digit in the exponent") }
            digits()
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        guard let value = Double(text), value.isFinite else { throw fail("the number is out of range", at: start) }
        return value
    }

    private mutating func digits() {
        while let byte = peek(), isDigit(byte) { index += 1 }
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    // MARK: Strings

    private mutating func string() throws(SyntaxError) -> String {
        let start = index
        index += 1  // "
        var utf8: [UInt8] = []
        while true {
            guard let byte = peek() else { throw fail("the string never ends", at: start) }
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let text = String(validating: utf8, as: UTF8.self) else {
                    throw fail("the string is not valid UTF-8", at: start)
                }
                return text
            case UInt8(ascii: "\\"):
                index += 1
                try escape(into: &utf8)
            case 0..<0x20:
                throw fail("a control character must be escaped in a string")
            default:
                utf8.append(byte)
                index += 1
            }
        }
    }

    private mutating func escape(into utf8: inout [UInt8]) throws(SyntaxError) {
        guard let byte = peek() else { throw fail("expected an escape") }
        index += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(byte)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try hex4()
            if (0xD800..<0xDC00).contains(scalar) {
                // A high surrogate must be followed by an escaped low one.
                guard peek() == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                    throw fail("a high surrogate must be followed by a low one")
                }
                index += 2
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw fail("a high surrogate must be followed by a low one") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(scalar) {
                throw fail("a low surrogate without a high one")
            }
            guard let unicode = Unicode.Scalar(scalar) else { throw fail("not a Unicode scalar") }
            UTF8.encode(unicode) { utf8.append($0) }
        default:
            index -= 1
            throw fail("unknown escape")
        }
    }

    private mutating func hex4() throws(SyntaxError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek() else { throw fail("expected four hex digits") }
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fail("expected four hex digits")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    // MARK: Position

    private func peek() -> UInt8? {
        index < bytes.count ? bytes[index] : nil
    }

    private mutating func skipWhitespace() {
        while let byte = peek(), byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
    }

    /// An error at `position` (by default the current one), with what is there when it is printable.
    private func fail(_ reason: String, at position: Int? = nil) -> SyntaxError {
        let at = min(position ?? index, bytes.count)
        var line = 1
        var lineStart = 0
        for i in 0..<at where bytes[i] == 0x0A {
            line += 1
            lineStart = i + 1
        }
        var reason = reason
        if at < bytes.count, position == nil {
            let byte = bytes[at]
            reason += byte >= 0x20 && byte < 0x7F ? ", found \"\(Character(Unicode.Scalar(byte)))\"" : ", found byte 0x\(String(byte, radix: 16))"
        } else if at >= bytes.count {
            reason += ", found the end of the text"
        }
        return SyntaxError(line: line, column: at - lineStart + 1, reason: reason)
    }
}
