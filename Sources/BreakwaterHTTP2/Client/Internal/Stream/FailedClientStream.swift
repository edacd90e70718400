@_spi(Locking) import BreakwaterCore

/// A client stream that could not be opened at all (its event loop never started): every send fails and
/// the only event is the end, with `status`.
final class FailedClientStream: ClientTransportStream {
    private let status: Status
    private let delivered = TSanMutex(false)

    init(status: Status) {
        self.status = status
    }

    func send(_ message: [UInt8], endStream: Bool) async throws {
        throw RPCError(status: status)
    }

    func finishSending() {}

    func next() async -> ClientStreamEvent? {
        let first = delivered.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        return first ? .end(ClientStreamEnd(status: status, connectionNeverEstablished: true)) : nil
    }

    func cancel() {}
}
