/// The client end of an in-process stream.
final class InProcessClientStream: ClientTransportStream {
    let core: InProcessStreamCore

    init(core: InProcessStreamCore) { self.core = core }

    func send(_ message: [UInt8], endStream: Bool) async throws {
        try core.clientSend(message, endStream: endStream)
    }

    func finishSending() {
        core.clientFinishSending()
    }

    func next() async -> ClientStreamEvent? {
        await core.clientNext()
    }

    func nextIfReady() -> ClientStreamPoll {
        core.clientNextIfReady()
    }

    func cancel() {
        core.abort(Status(code: .cancelled, message: "The call was cancelled"))
    }
}
