import CNghttp2

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
