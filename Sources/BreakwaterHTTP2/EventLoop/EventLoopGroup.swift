import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A fixed set of event loops. Connections are spread over them with `next()`; each connection stays on
/// the loop it was given for its whole life.
public final class EventLoopGroup: Sendable {
    /// The loops of this group.
    public let loops: [EventLoop]
    private let counter = Atomic<Int>(0)

    /// Creates a group of `numberOfLoops` loops (default: one per core), each on its own thread, named
    /// `<namePrefix>-<index>` (thread names keep 15 bytes).
    ///
    /// `idlePoll` is the longest each loop keeps polling its sockets after each turn before it sleeps:
    /// zero (the default) for none, at most 1 ms; within it the time polled adapts to the traffic. It
    /// trades CPU for latency on machines whose threads wake slowly; see ``EventLoop/init(name:idlePoll:)``
    /// and <doc:EventLoopsAndLatency>.
    public convenience init(numberOfLoops: Int = EventLoopGroup.coreCount, namePrefix: String = "bw-loop", idlePoll: Duration = .zero) {
        self.init(numberOfLoops: numberOfLoops, namePrefix: namePrefix, idlePoll: idlePoll, isShared: false)
    }

    /// A group of the given loops (tests: loops that failed to start).
    init(loops: [EventLoop]) {
        self.loops = loops
        isShared = false
    }

    private init(numberOfLoops: Int, namePrefix: String, idlePoll: Duration = .zero, isShared: Bool) {
        let n = max(1, numberOfLoops)
        loops = (0..<n).map { EventLoop(name: "\(namePrefix)-\($0)", idlePoll: idlePoll) }
        self.isShared = isShared
    }

    /// Whether this is `shared`, which is never shut down.
    private let isShared: Bool

    /// Stops every loop: what is still registered on them (connections, listeners) is closed, their
    /// descriptors are closed and their threads end; returns once they have. Close the transports that use
    /// the group first: work handed to a stopped loop does not run. The `shared` group lives as long as the
    /// process, and this does nothing to it.
    public func shutdownGracefully() async {
        guard !isShared else { return }
        for loop in loops { await loop.stop() }
    }

    /// The next loop, round-robin.
    public func next() -> EventLoop {
        let i = counter.wrappingAdd(1, ordering: .relaxed).oldValue
        return loops[(i % loops.count + loops.count) % loops.count]
    }

    /// A group shared by every transport that is not given one, created on first use; its loops live
    /// as long as the process.
    public static let shared = EventLoopGroup(numberOfLoops: EventLoopGroup.coreCount, namePrefix: "bw-loop", isShared: true)

    /// The number of online processors.
    public static var coreCount: Int {
        let n = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return n > 0 ? n : 1
    }
}
