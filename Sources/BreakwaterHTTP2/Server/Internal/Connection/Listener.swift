import BreakwaterCore
import CBreakwaterPOSIX
#if canImport(Glibc)
import Glibc
#endif

/// A listening socket on one loop; hands accepted connections to the group's loops in turn.
///
/// Out of descriptors (EMFILE, ENFILE) or memory, accepting would fail at once forever while the
/// pending connection keeps the socket readable: the listener stops watching it and tries again after a
/// pause that doubles up to a second, so the loop goes on serving the connections it has.
final class Listener: EventLoopFDHandler, @unchecked Sendable {
    // Safety: `fd`, `group`, `context` are immutable; every var is touched only on `loop`'s thread.

    let fd: Int32
    let loop: EventLoop
    let group: EventLoopGroup
    let context: ServerTransportContext
    /// The Unix domain socket file this listener created, removed when it closes.
    let socketFile: String?
    private var closed = false
    private var paused = false
    private var pause = Listener.firstPause

    static let firstPause: Duration = .milliseconds(50)
    static let longestPause: Duration = .seconds(1)

    init(fd: Int32, loop: EventLoop, group: EventLoopGroup, context: ServerTransportContext, socketFile: String? = nil) {
        self.socketFile = socketFile
        self.fd = fd
        self.loop = loop
        self.group = group
        self.context = context
    }

    func handleEvents(_ events: IOEvents) {
        var accepted = 0
        while accepted < 64, !closed, !paused {
            switch Socket.accept(fd) {
            case .accepted(let client, let address):
                accepted += 1
                pause = Self.firstPause
                admit(client, address)
            case .retry:
                continue
            case .none, .failed:
                return
            case .exhausted:
                pauseAccepting()
                return
            }
        }
    }

    private func admit(_ client: Int32, _ address: SocketAddress) {
        let target = group.next()
        let connection = ServerConnection(loop: target, fd: client, remoteAddress: address, context: context)
        switch context.add(connection) {
        case .admitted:
            target.executeOrRun { connection.start() }
        case .shuttingDown:
            Glibc.close(client)
        case .overLimit:
            context.configuration.logger.info(
                "connection refused: too many connections",
                metadata: ["peer": "\(address.peerDescription)", "max_connections": "\(context.configuration.maxConnections)"])
            // A plaintext client is told why before the close; a TLS one cannot be without a handshake.
            if context.tls == nil {
                _ = Self.tooManyConnections.withUnsafeBytes { raw in
                    Glibc.send(client, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                }
            }
            Glibc.close(client)
        }
    }

    private func pauseAccepting() {
        paused = true
        loop.modify(fd: fd, interest: [])
        let delay = pause
        pause = min(pause * 2, Self.longestPause)
        _ = loop.scheduleTimer(at: .now + delay) { [weak self] in
            guard let self, !self.closed else { return }
            self.paused = false
            self.loop.modify(fd: self.fd, interest: .readable)
        }
    }

    static let tooManyConnections = HTTP2Session.settingsAndGoAway(.enhanceYourCalm, reason: "too many connections")

    func eventLoopStopping() {
        close()
    }

    /// Stops listening. Loop thread.
    func close() {
        guard !closed else { return }
        closed = true
        loop.unregister(fd: fd)
        Glibc.close(fd)
        if let socketFile { Socket.removeStaleSocketFile(socketFile) }
    }
}
