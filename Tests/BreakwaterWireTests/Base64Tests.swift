import BreakwaterTestSupport
import Testing

import BreakwaterCore
@testable import BreakwaterWire

@Suite("Base64")
struct Base64Tests {
    @Test(
        "RFC 4648 section 10 test vectors, unpadded on output",
        arguments: [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ]
    )
    func vectors(plain: String, encoded: String) {
        #expect(Base64.encode(Array(plain.utf8)) == encoded)
        #expect(Base64.decode(encoded) == Array(plain.utf8))
    }

    @Test(
        "padded input is accepted",
        arguments: [("Zg==", "f"), ("Zm8=", "fo"), ("Zm9v", "foo"), ("Zm9vYg==", "foob"), ("Zm9vYmE=", "fooba")]
    )
    func padded(encoded: String, plain: String) {
        #expect(Base64.decode(encoded) == Array(plain.utf8))
    }

    @Test("the standard alphabet, including + and /")
    func alphabet() {
        #expect(Base64.encode([0xFB, 0xFF, 0xBF]) == "+/+/")
        #expect(Base64.decode("+/+/") == [0xFB, 0xFF, 0xBF])
        #expect(Base64.encode([0, 0, 0]) == "AAAA")
        #expect(Base64.encode([0xFF, 0xFF, 0xFF]) == "////")
    }

    @Test(
        "invalid characters and impossible lengths are rejected",
        arguments: [
            "Z", "Zm9vY", "Zm9vY=", "A===", "Zm9v!", "Zm 9v", "Zm9v\n", "Zg==Zg", "=Zg", "Zm-v", "Zm_v", "Zé==", "ab\0c",
        ]
    )
    func invalid(encoded: String) {
        #expect(Base64.decode(encoded) == nil)
    }

    @Test("empty and all-padding decode to nothing")
    func emptyish() {
        #expect(Base64.decode("") == [])
        #expect(Base64.decode("==") == [])
    }

    @Test("property: random bytes round-trip, output is unpadded and of the right length (seeded, 1000 runs)")
    func roundTrip() {
        var rng = SeededRandom(seed: 64)
        for _ in 0..<1000 {
            let bytes = rng.bytes(Int.random(in: 0...200, using: &rng))
            let encoded = Base64.encode(bytes)
            #expect(!encoded.contains("="))
            #expect(encoded.utf8.count == (bytes.count * 4 + 2) / 3)
            #expect(Base64.decode(encoded) == bytes)
            // The padded form decodes to the same bytes.
            let padding = String(repeating: "=", count: (4 - encoded.utf8.count % 4) % 4)
            #expect(Base64.decode(encoded + padding) == bytes)
        }
    }
}
