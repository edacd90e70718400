import CNghttp2

/// Streams held back by the connection's receive budget, and their release.
extension HTTP2Session {
    /// `streamID` holds back received bytes because the connection is over its receive budget; it hears
    /// `connectionBudgetReleased` once there is room. Returns false when the peer cannot send this stream
    /// anything more (its stream or connection window is used up) and no reader can free a byte: the
    /// stream can make no progress and must end instead.
    func holdBackForBudget(_ streamID: Int32, _ waiter: any ReceiveBudgetWaiter) -> Bool {
        guard let session = nghttp2 else { return true }
        if !receiveBudget.readersCanFree
            && (nghttp2_session_get_stream_local_window_size(session, streamID) <= 0
                || nghttp2_session_get_local_window_size(session) <= 0)
        {
            receiveBudget.removeWaiter(streamID)
            return false
        }
        receiveBudget.addWaiter(streamID, waiter)
        return true
    }

    /// The stream no longer waits for the budget (it ended).
    func stopWaitingForBudget(_ streamID: Int32) {
        receiveBudget.removeWaiter(streamID)
    }
}
