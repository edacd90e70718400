import Synchronization
@_spi(Locking) import BreakwaterCore

@_exported import BreakwaterTestSupport  // `eventually`, for every file of the target

/// A counter written by a sender task and watched by the test.
final class Counter: Sendable {
    private let count = TSanMutex(0)

    var value: Int { count.withLock { $0 } }

    func increment() { count.withLock { $0 += 1 } }

    /// Returns once the count has not moved for 300 ms (flow control has stopped the sender), or after
    /// 20 s.
    func waitUntilSettled() async {
        var last = -1
        var still = 0
        for _ in 0..<400 {
            try? await Task.sleep(for: .milliseconds(50))
            let now = value
            if now == last {
                still += 1
                if still >= 6 { return }
            } else {
                still = 0
                last = now
            }
        }
    }
}
