/// Text that came from a peer, quoted in an error message or a log line.
package enum PeerText {
    /// At most `limit` bytes of `value` (UTF-8), marked when cut: a peer must not be able to make a status
    /// message as large as the header it sent.
    package static func excerpt(_ value: String, limit: Int = 64) -> String {
        let utf8 = value.utf8
        guard utf8.count > limit else { return value }
        return String(decoding: utf8.prefix(limit), as: UTF8.self) + "... (\(utf8.count) bytes)"
    }
}
