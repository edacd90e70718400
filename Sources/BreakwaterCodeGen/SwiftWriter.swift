/// Accumulates Swift source line by line with four-space indentation.
struct SwiftWriter {
    private(set) var text = ""
    private var depth = 0

    /// Appends one line at the current indentation (an empty line stays empty).
    mutating func line(_ content: String = "") {
        if content.isEmpty {
            text += "\n"
        } else {
            text += String(repeating: "    ", count: depth) + content + "\n"
        }
    }

    /// Appends each line of `block` (split on newlines) at the current indentation.
    mutating func lines(_ block: String) {
        var lines = block.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        for line in lines { self.line(String(line)) }
    }

    /// Appends `open`, the lines `body` writes one level deeper, then `close`.
    mutating func block(_ open: String, close: String = "}", _ body: (inout SwiftWriter) -> Void) {
        line(open)
        depth += 1
        body(&self)
        depth -= 1
        line(close)
    }

    /// Doc comment lines (`/// ...`) for `paragraphs`, separated by empty `///` lines. Empty paragraphs
    /// are skipped.
    mutating func doc(_ paragraphs: String...) {
        doc(paragraphs)
    }

    /// Doc comment lines for `paragraphs`.
    mutating func doc(_ paragraphs: [String]) {
        var first = true
        for paragraph in paragraphs where !paragraph.isEmpty {
            if !first { line("///") }
            first = false
            for row in paragraph.split(separator: "\n", omittingEmptySubsequences: false) {
                line(row.isEmpty ? "///" : "/// " + row)
            }
        }
    }
}
