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

    /// Creates a group of `numberOfLoops` loops (default: one per core), each on its own thread.
    public init(numberOfLoops: Int = EventLoopGroup.coreCount) {
        let n = max(1, numberOfLoops)
        loops = (0..<n).map { EventLoop(name: "bw-loop-\($0)") }
    }

    /// The next loop, round-robin.
    public func next() -> EventLoop {
        let i = counter.wrappingAdd(1, ordering: .relaxed).oldValue
        return loops[(i % loops.count + loops.count) % loops.count]
    }

    /// A group shared by every transport that is not given one, created on first use; its loops live
    /// as long as the process.
    public static let shared = EventLoopGroup()

    /// The number of online processors.
    public static var coreCount: Int {
        let n = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return n > 0 ? n : 1
    }
}
