/// Readiness of a file descriptor, as a poller reports it and as handlers ask for it.
struct IOEvents: OptionSet, Sendable {
    let rawValue: UInt32

    /// Bytes (or a connection, for a listener) can be read.
    static let readable = IOEvents(rawValue: 1 << 0)
    /// Bytes can be written (a non-blocking connect finished).
    static let writable = IOEvents(rawValue: 1 << 1)
    /// The descriptor has an error pending.
    static let error = IOEvents(rawValue: 1 << 2)
    /// The peer closed its side or the connection hung up.
    static let hangUp = IOEvents(rawValue: 1 << 3)
}
