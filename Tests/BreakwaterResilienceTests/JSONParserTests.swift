import Testing

@testable import BreakwaterResilience

@Suite("JSONParser")
struct JSONParserTests {
    @Test("values, escapes, surrogate pairs and numbers as RFC 8259 has them")
    func parsesValues() throws {
        let text = #" { "a": [1, -0.5, 2e3, 1E-2, true, false, null], "s": "q\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "o": {} } "#
        let value = try JSONParser.parse(Array(text.utf8))
        #expect(value == .object([
            "a": .array([.number(1), .number(-0.5), .number(2000), .number(0.01), .bool(true), .bool(false), .null]),
            "s": .string("q\"\\/\u{8}\u{c}\n\r\t\u{e9}\u{1F600}"),
            "o": .object([:]),
        ]))
        #expect(try JSONParser.parse(Array("[]".utf8)) == .array([]))
        #expect(try JSONParser.parse(Array("\"\"".utf8)) == .string(""))
    }

    @Test("every malformed input is an error with its line and column", arguments: [
        ("", 1, 1), ("[1,]", 1, 4), ("{\"a\" 1}", 1, 6), ("[1 2]", 1, 4), ("tru", 1, 1), ("\"abc", 1, 1),
        ("[\"a\u{1}\"]", 1, 4), ("-", 1, 2), ("1.", 1, 3), ("1e", 1, 3), ("[\n\n  +1]", 3, 3),
        ("\"\\u12\"", 1, 6), ("\"\\udc00\"", 1, 8), ("{\"a\":1,\"a\":1}", 1, 8),
    ])
    func malformed(text: String, line: Int, column: Int) {
        do {
            let value = try JSONParser.parse(Array(text.utf8))
            Issue.record("parsed \(value)")
        } catch {
            #expect(error.line == line && error.column == column, "\(error)")
        }
    }

    @Test("invalid UTF-8 inside a string is an error, not replaced")
    func invalidUTF8() {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
    }
}
