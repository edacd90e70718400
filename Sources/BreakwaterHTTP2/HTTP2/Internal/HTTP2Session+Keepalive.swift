import CNghttp2

/// Keepalive PINGs, and the PING after a silent call: `KeepaliveMachine` decides, this carries its actions out with one loop timer and
/// `nghttp2_submit_ping`. The timer captures the session strongly (a weak reference would slow every
/// retain of it) and is cancelled when the session closes.
extension HTTP2Session {
    /// The opaque data of our keepalive PINGs, told apart from other PINGs' acknowledgements.
    static let keepalivePing: [UInt8] = Array("bwalive?".utf8)

    static func isKeepalivePing(_ frame: UnsafePointer<nghttp2_frame>) -> Bool {
        withUnsafeBytes(of: frame.pointee.ping.opaque_data) { $0.elementsEqual(keepalivePing) }
    }

    /// The connection's first stream started (after none): a dormant keepalive wakes up. Loop thread.
    func keepaliveStreamsBecameActive() {
        keepaliveAct(keepalive.streamsBecameActive(now: .now, reads: readCount))
    }

    /// A call ended by its deadline or cancellation with nothing read since it started: PING the peer,
    /// which must answer within `bound`. Loop thread.
    func pingAfterSilentCall(bound: Duration) {
        keepaliveAct(keepalive.callEndedSilently(now: .now, reads: readCount, bound: bound))
    }

    /// A probe waits on this connection for proof of life: PING the peer, which must answer within
    /// `bound`. Loop thread.
    func pingBeforeProbe(bound: Duration) {
        keepaliveAct(keepalive.probeWaits(now: .now, reads: readCount, bound: bound))
    }

    func keepaliveAct(_ action: KeepaliveMachine.Action) {
        switch action {
        case .none:
            break
        case .arm(let deadline):
            armKeepaliveTimer(at: deadline)
        case .ping(let deadline):
            guard let session = nghttp2 else { return }
            _ = Self.keepalivePing.withUnsafeBufferPointer {
                nghttp2_submit_ping(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), $0.baseAddress)
            }
            scheduleFlush()
            armKeepaliveTimer(at: deadline)
        case .close(let reason):
            stopKeepaliveTimer()
            close(reason: reason)
        }
    }

    private func armKeepaliveTimer(at deadline: ContinuousClock.Instant) {
        guard !isClosed else { return }
        stopKeepaliveTimer()
        keepaliveTimer = loop.scheduleTimer(at: deadline) { [self] in
            keepaliveTimer = nil
            keepaliveAct(
                keepalive.timerFired(
                    now: .now, reads: readCount, lastRead: tracksReadTime ? lastReadAt : nil,
                    hasStreams: delegate?.sessionHasStreams ?? false))
        }
    }

    func stopKeepaliveTimer() {
        if let keepaliveTimer { loop.cancelTimer(keepaliveTimer) }
        keepaliveTimer = nil
    }
}
