#if canImport(Glibc)
import Glibc
#endif

/// A non-blocking connect in progress: reports the socket's error (0 for success) once it is writable.
final class ConnectAttempt: EventLoopFDHandler {
    let fd: Int32
    private var completion: ((Int32) -> Void)?

    init(fd: Int32, completion: @escaping (Int32) -> Void) {
        self.fd = fd
        self.completion = completion
    }

    func handleEvents(_ events: IOEvents) {
        guard let completion else { return }
        self.completion = nil
        completion(Socket.pendingError(fd))
    }

    func eventLoopStopping() {
        completion = nil
        Glibc.close(fd)
    }
}
