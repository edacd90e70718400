import CBreakwaterPOSIX
#if canImport(Glibc)
import Glibc
#endif

/// `epoll` with an `eventfd` to wake it, for the Linux event loop.
///
/// The eventfd is watched edge-triggered: every write is reported once, so the loop never reads it (one
/// syscall less per wake-up); the counter just grows until `wake` empties it (after 2^64 - 2 writes).
struct EpollPoller: Poller {
    private let epfd: Int32
    private let wakeFD: Int32
    private let results: UnsafeMutablePointer<bw_epoll_result>
    private static let capacity = 64
    /// EPOLLET (Glibc's overlay does not export the epoll constants).
    private static let edgeTriggered: UInt32 = 1 << 31

    init(name: String) throws(PollerError) {
        let epfd = bw_epoll_create()
        guard epfd >= 0 else {
            throw PollerError(message: "cannot create epoll for \(name): \(Socket.describe(errno))")
        }
        let wakeFD = bw_eventfd(0, 1)
        guard wakeFD >= 0 else {
            let err = errno
            Glibc.close(epfd)
            throw PollerError(message: "cannot create eventfd for \(name): \(Socket.describe(err))")
        }
        _ = bw_epoll_ctl(epfd, 1, wakeFD, BW_EPOLLIN | Self.edgeTriggered)
        self.epfd = epfd
        self.wakeFD = wakeFD
        results = .allocate(capacity: Self.capacity)
    }

    private static func mask(_ interest: IOEvents) -> UInt32 {
        var mask: UInt32 = 0
        if interest.contains(.readable) { mask |= BW_EPOLLIN | BW_EPOLLRDHUP }
        if interest.contains(.writable) { mask |= BW_EPOLLOUT }
        return mask
    }

    private static func events(_ mask: UInt32) -> IOEvents {
        var events: IOEvents = []
        if mask & BW_EPOLLIN != 0 { events.insert(.readable) }
        if mask & BW_EPOLLOUT != 0 { events.insert(.writable) }
        if mask & BW_EPOLLERR != 0 { events.insert(.error) }
        if mask & (BW_EPOLLHUP | BW_EPOLLRDHUP) != 0 { events.insert(.hangUp) }
        return events
    }

    func register(_ fd: Int32, interest: IOEvents) -> Bool {
        bw_epoll_ctl(epfd, 1, fd, Self.mask(interest)) == 0
    }

    func modify(_ fd: Int32, interest: IOEvents) {
        _ = bw_epoll_ctl(epfd, 3, fd, Self.mask(interest))
    }

    func unregister(_ fd: Int32) {
        _ = bw_epoll_ctl(epfd, 2, fd, 0)
    }

    func wait(timeoutMillis: Int32) -> Int {
        max(0, Int(bw_epoll_wait(epfd, results, Int32(Self.capacity), timeoutMillis)))
    }

    func handleReady(_ count: Int, _ handle: (Int32, IOEvents) -> Void) {
        for i in 0..<min(count, Self.capacity) where results[i].fd != wakeFD {
            handle(results[i].fd, Self.events(results[i].events))
        }
    }

    func wake() {
        var one: UInt64 = 1
        while Glibc.write(wakeFD, &one, 8) < 0 {
            switch errno {
            case EINTR:
                continue
            case EAGAIN:
                // The counter is full: empty it and write again.
                var value: UInt64 = 0
                _ = Glibc.read(wakeFD, &value, 8)
            default:
                return
            }
        }
    }

    func close() {
        Glibc.close(wakeFD)
        Glibc.close(epfd)
        results.deallocate()
    }
}
