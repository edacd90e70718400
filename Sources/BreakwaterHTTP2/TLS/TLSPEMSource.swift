/// Where PEM data (certificates or a private key) comes from: a file read when the TLS context is built,
/// or bytes held in memory.
public enum TLSPEMSource: Sendable, Hashable {
    /// A PEM file at this path.
    case file(String)
    /// PEM text, as bytes.
    case bytes([UInt8])

    /// PEM text given as a string.
    public static func string(_ pem: String) -> TLSPEMSource { .bytes(Array(pem.utf8)) }

    /// A short description for error messages: the path, or the size of the bytes.
    var label: String {
        switch self {
        case .file(let path): return path
        case .bytes(let bytes): return "PEM bytes (\(bytes.count))"
        }
    }
}
