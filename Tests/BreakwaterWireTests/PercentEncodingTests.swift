import BreakwaterTestSupport
import Testing

import BreakwaterCore
@testable import BreakwaterWire

@Suite("PercentEncoding")
struct PercentEncodingTests {
    @Test("printable ASCII other than % is unchanged")
    func printableUnchanged() {
        var all = ""
        for b in UInt8(0x20)...UInt8(0x7E) where b != UInt8(ascii: "%") {
            all.unicodeScalars.append(Unicode.Scalar(b))
        }
        #expect(PercentEncoding.encode(all) == all)
        #expect(PercentEncoding.decode(all) == all)
        #expect(PercentEncoding.encode("") == "")
        #expect(PercentEncoding.encode("deadline exceeded after 1.5s") == "deadline exceeded after 1.5s")
    }

    @Test("% is escaped")
    func percentEscaped() {
        #expect(PercentEncoding.encode("%") == "%25")
        #expect(PercentEncoding.encode("100% done") == "100%25 done")
        #expect(PercentEncoding.decode("100%25 done") == "100% done")
        #expect(PercentEncoding.decode(PercentEncoding.encode("%25")) == "%25")
    }

    @Test(
        "UTF-8 and control characters are escaped byte by byte, upper-case hex",
        arguments: [
            ("héllo ☃", "h%C3%A9llo %E2%98%83"),
            ("\n", "%0A"),
            ("\t\r\0", "%09%0D%00"),
            ("\u{7F}", "%7F"),
            ("a\u{1F}b", "a%1Fb"),
            ("😀", "%F0%9F%98%80"),
        ]
    )
    func escapes(input: String, encoded: String) {
        #expect(PercentEncoding.encode(input) == encoded)
        #expect(PercentEncoding.decode(encoded) == input)
    }

    @Test("lower-case hex is accepted")
    func lowercaseHex() {
        #expect(PercentEncoding.decode("h%c3%a9llo %e2%98%83") == "héllo ☃")
        #expect(PercentEncoding.decode("%4a%4A") == "JJ")
    }

    @Test(
        "malformed escapes are kept as they are",
        arguments: [
            ("%", "%"),
            ("%zz", "%zz"),
            ("%4", "%4"),
            ("abc%", "abc%"),
            ("abc%4", "abc%4"),
            ("%%41", "%A"),
            ("%g1", "%g1"),
            ("%1g", "%1g"),
            ("% 41", "% 41"),
            ("50%", "50%"),
            ("%41%", "A%"),
        ]
    )
    func malformed(input: String, expected: String) {
        #expect(PercentEncoding.decode(input) == expected)
    }

    @Test("a decoded escape at the very end of the value")
    func escapeAtEnd() {
        #expect(PercentEncoding.decode("%41") == "A")
        #expect(PercentEncoding.decode("x%41") == "xA")
    }

    @Test("invalid UTF-8 after decoding is repaired, not dropped")
    func invalidUTF8() {
        #expect(PercentEncoding.decode("a%FFb") == "a\u{FFFD}b")
        #expect(PercentEncoding.decode("%C3") == "\u{FFFD}")
    }

    @Test("property: encode produces only printable ASCII and round-trips (seeded, 500 runs)")
    func roundTrip() {
        var rng = SeededRandom(seed: 1234)
        let pool: [Unicode.Scalar] = [
            "a", "Z", "0", " ", "%", "~", "\u{0}", "\n", "\u{7F}", "\u{80}", "é", "ß", "☃", "中", "😀", "\u{FFFD}",
            "\u{10FFFF}",
        ]
        for _ in 0..<500 {
            var s = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 0...30, using: &rng) { s.append(pool.randomElement(using: &rng)!) }
            let message = String(s)
            let encoded = PercentEncoding.encode(message)
            #expect(encoded.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }, "\(encoded)")
            #expect(PercentEncoding.decode(encoded) == message)
        }
    }
}
