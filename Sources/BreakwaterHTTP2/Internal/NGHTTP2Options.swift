import CNghttp2
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

/// The nghttp2 options of one connection: manual flow control and every protection of `protections`
/// the library supports. Returns nil when the options cannot be allocated; the caller deletes them.
struct SessionOptions {
    /// Protections the library lacks, which the connection enforces itself.
    var enforceResetRate: Bool
    var enforceContinuations: Bool

    static func make(
        _ protections: HTTP2Protections, forcingFallbacks: Bool = false, configure: (OpaquePointer) -> Void = { _ in }
    ) -> (OpaquePointer, SessionOptions)? {
        var option: OpaquePointer?
        guard nghttp2_option_new(&option) == 0, let option else { return nil }
        nghttp2_option_set_no_auto_window_update(option, 1)
        nghttp2_option_set_max_outbound_ack(option, max(1, protections.maxOutboundAcks))
        nghttp2_option_set_max_settings(option, max(1, protections.maxSettingsEntries))
        var own = SessionOptions(enforceResetRate: true, enforceContinuations: true)
        if !forcingFallbacks, let set = NGHTTP2Optional.setStreamResetRateLimit {
            set(option, UInt64(max(1, protections.streamResetBurst)), UInt64(max(1, protections.streamResetsPerSecond)))
            own.enforceResetRate = false
        }
        if !forcingFallbacks, let set = NGHTTP2Optional.setMaxContinuations {
            set(option, max(0, protections.maxContinuations))
            own.enforceContinuations = false
        }
        configure(option)
        return (option, own)
    }
}

/// The transport's own stream-reset rate limit, for a libnghttp2 without one: a token bucket of
/// `burst` tokens refilled at `perSecond`, one token per RST_STREAM received. Pure; time is passed in.
struct ResetRateLimiter {
    let burst: Double
    let perSecond: Double
    private var tokens: Double
    private var last: ContinuousClock.Instant?

    init(burst: Int, perSecond: Int) {
        self.burst = Double(max(1, burst))
        self.perSecond = Double(max(1, perSecond))
        tokens = self.burst
    }

    /// One RST_STREAM arrived at `now`; false when the peer is over the limit.
    mutating func admit(at now: ContinuousClock.Instant) -> Bool {
        if let last {
            let elapsed = last.duration(to: now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            tokens = min(burst, tokens + max(0, seconds) * perSecond)
        }
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
