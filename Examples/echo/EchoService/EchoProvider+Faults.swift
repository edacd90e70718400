extension EchoProvider {
    /// Faults an `EchoProvider` injects, for the echo-server example and tests.
    public struct Faults: Sendable, Hashable {
        /// The first `failFirst` calls of each method end with UNAVAILABLE.
        public var failFirst: Int
        /// The share of calls (0...1) that end with UNAVAILABLE, drawn from the provider's random source.
        public var failRate: Double
        /// How long each call waits before answering (cancellable).
        public var delay: Duration?
        /// When true, calls never answer; they end only when cancelled (deadline, client cancel, shutdown).
        public var hang: Bool
        /// The share of calls (0...1) that wait ``slowDelay`` before answering, drawn from the provider's
        /// random source: a backend with a latency tail.
        public var slowRate: Double
        /// How long a slow call waits (cancellable).
        public var slowDelay: Duration
        /// Each call waits this much per call in flight when it starts, itself included (cancellable): a
        /// backend whose latency climbs with load.
        public var delayPerConcurrentCall: Duration

        /// Creates a fault configuration; the defaults inject nothing.
        public init(
            failFirst: Int = 0, failRate: Double = 0, delay: Duration? = nil, hang: Bool = false,
            slowRate: Double = 0, slowDelay: Duration = .zero, delayPerConcurrentCall: Duration = .zero
        ) {
            self.failFirst = max(0, failFirst)
            self.failRate = min(1, max(0, failRate))
            self.delay = delay
            self.hang = hang
            self.slowRate = min(1, max(0, slowRate))
            self.slowDelay = slowDelay
            self.delayPerConcurrentCall = delayPerConcurrentCall
        }

        /// No faults.
        public static let none = Faults()
    }

    /// The methods of the echo service, for the provider's counters.
    public enum Method: String, Sendable, Hashable, CaseIterable {
        case get = "Get"
        case expand = "Expand"
        case collect = "Collect"
        case update = "Update"
    }
}
