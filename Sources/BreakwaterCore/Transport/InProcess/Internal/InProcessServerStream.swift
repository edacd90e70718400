/// The server end of an in-process stream.
final class InProcessServerStream: ServerTransportStream {
    let core: InProcessStreamCore

    init(core: InProcessStreamCore) { self.core = core }

    var head: ServerRequestHead { core.head }

    var preferredExecutor: (any TaskExecutor)? { nil }

    func receive() async throws -> [UInt8]? {
        try await core.serverReceive()
    }

    func sendHeaders(_ metadata: Metadata) async throws {
        try core.serverSendHeaders(metadata)
    }

    func send(_ message: [UInt8]) async throws {
        try core.serverSend(message)
    }

    func finish(status: Status, trailers: Metadata) {
        core.serverFinish(status: status, trailers: trailers)
    }

    func onCancel(_ handler: @escaping @Sendable () -> Void) {
        core.serverOnCancel(handler)
    }
}
