/// Something registered with an event loop for readiness events on a file descriptor.
protocol EventLoopFDHandler: AnyObject {
    /// Called on the loop thread with the descriptor's readiness.
    func handleEvents(_ events: IOEvents)
    /// The loop is stopping (its group shuts down) with the descriptor still registered: close it, and
    /// end whatever depends on it. Loop thread.
    func eventLoopStopping()
}

/// Something that wants to run once at the end of the current loop turn (e.g. to flush coalesced writes).
protocol EventLoopTurnObserver: AnyObject {
    /// Called on the loop thread after the turn's events, commands and timers were processed.
    func endOfTurn()
}
