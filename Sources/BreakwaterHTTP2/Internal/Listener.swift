import BreakwaterCore
#if canImport(Glibc)
import Glibc
#endif

/// A listening socket on one loop; hands accepted connections to the group's loops in turn.
final class Listener: EventLoopFDHandler, @unchecked Sendable {
    // Safety: `fd`, `group`, `context` are immutable; `closed` is touched only on `loop`'s thread.

    let fd: Int32
    let loop: EventLoop
    let group: EventLoopGroup
    let context: ServerContext
    private var closed = false

    init(fd: Int32, loop: EventLoop, group: EventLoopGroup, context: ServerContext) {
        self.fd = fd
        self.loop = loop
        self.group = group
        self.context = context
    }

    func handleEvents(_ events: UInt32) {
        for _ in 0..<64 {
            guard !closed, let (client, address) = Socket.accept(fd) else { return }
            let target = group.next()
            let connection = ServerConnection(loop: target, fd: client, remoteAddress: address, context: context)
            guard context.add(connection) else {
                Glibc.close(client)
                continue
            }
            target.executeOrRun { connection.start() }
        }
    }

    /// Stops listening. Loop thread.
    func close() {
        guard !closed else { return }
        closed = true
        loop.unregister(fd: fd)
        Glibc.close(fd)
    }
}
