#if canImport(Glibc)
import Glibc
#endif

/// nghttp2 functions that older or unpatched builds of the library lack, looked up at run time so that
/// the transport links against any libnghttp2 and knows which protections it must enforce itself.
enum NGHTTP2Optional {
    typealias SetRateLimit = @convention(c) (OpaquePointer?, UInt64, UInt64) -> Void
    typealias SetSize = @convention(c) (OpaquePointer?, Int) -> Void

    /// `nghttp2_option_set_stream_reset_rate_limit` (1.57, backported by Debian to 1.52).
    static let setStreamResetRateLimit: SetRateLimit? = symbol("nghttp2_option_set_stream_reset_rate_limit")
    /// `nghttp2_option_set_max_continuations` (1.61, backported by Debian to 1.52).
    static let setMaxContinuations: SetSize? = symbol("nghttp2_option_set_max_continuations")

    private static func symbol<F>(_ name: String) -> F? {
        // dlopen(NULL) is the process itself, with every library it linked.
        guard let process = dlopen(nil, RTLD_NOW), let address = dlsym(process, name) else { return nil }
        return unsafeBitCast(address, to: F.self)
    }
}
