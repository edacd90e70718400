/// How an event loop waits for its descriptors: one per platform (`EpollPoller` on Linux; kqueue would be
/// one more conformance). The loop owns its poller and calls it from its thread only, except `wake`.
protocol Poller {
    /// Creates the poller's descriptors; an error names what could not be created.
    init(name: String) throws(PollerError)
    /// Starts watching `fd` for `interest`. False when the system refuses.
    func register(_ fd: Int32, interest: IOEvents) -> Bool
    /// Changes what `fd` is watched for (an empty set pauses it).
    func modify(_ fd: Int32, interest: IOEvents)
    /// Stops watching `fd` (the caller closes it).
    func unregister(_ fd: Int32)
    /// Waits up to `timeoutMillis` (-1: forever, 0: not at all); returns how many descriptors are ready,
    /// for `handleReady`. Two steps, so that the loop can wait without holding what it holds to handle them.
    func wait(timeoutMillis: Int32) -> Int
    /// Calls `handle` for each of the `count` descriptors the last `wait` found ready.
    func handleReady(_ count: Int, _ handle: (Int32, IOEvents) -> Void)
    /// Makes a `wait` in progress (or the next one) return. Any thread.
    func wake()
    /// Closes the poller's descriptors. After the loop's last `wait`.
    func close()
}

/// Why a poller could not be created.
struct PollerError: Error {
    var message: String
}
