import BreakwaterCore
import CBreakwaterZlib
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Per-message compression (`grpc-encoding`), gzip through zlib.
public enum MessageCompression {
    /// Compresses `bytes` with `algorithm`. Identity returns the input.
    public static func compress(_ bytes: [UInt8], using algorithm: CompressionAlgorithm) throws(RPCError) -> [UInt8] {
        switch algorithm {
        case .identity:
            return bytes
        case .gzip:
            var out: UnsafeMutablePointer<UInt8>?
            var outLen = 0
            let rc = bytes.withUnsafeBufferPointer { bw_gzip_compress($0.baseAddress, $0.count, &out, &outLen) }
            guard rc == 0, let out else { throw RPCError(code: .internalError, message: "gzip compression failed") }
            defer { free(out) }
            return Array(UnsafeBufferPointer(start: out, count: outLen))
        }
    }

    /// Decompresses `bytes`; fails with RESOURCE_EXHAUSTED past `limit` bytes and INTERNAL when malformed.
    public static func decompress(_ bytes: [UInt8], using algorithm: CompressionAlgorithm, limit: Int) throws(RPCError) -> [UInt8] {
        switch algorithm {
        case .identity:
            return bytes
        case .gzip:
            var out: UnsafeMutablePointer<UInt8>?
            var outLen = 0
            let rc = bytes.withUnsafeBufferPointer { bw_gzip_decompress($0.baseAddress, $0.count, limit, &out, &outLen) }
            if rc == 1 {
                throw RPCError(code: .resourceExhausted, message: "decompressed message is over the limit of \(limit) bytes")
            }
            guard rc == 0, let out else { throw RPCError(code: .internalError, message: "malformed gzip message") }
            defer { free(out) }
            return Array(UnsafeBufferPointer(start: out, count: outLen))
        }
    }
}
