#if canImport(Glibc)
import Glibc
#endif

/// Latency samples in nanoseconds; percentiles from a sorted copy (nearest rank).
struct Samples {
    private(set) var values: [Int64] = []

    init(capacity: Int = 0) { values.reserveCapacity(capacity) }

    mutating func append(_ duration: Duration) { values.append(duration.nanoseconds) }
    mutating func append(nanoseconds: Int64) { values.append(nanoseconds) }
    mutating func append(contentsOf other: Samples) { values.append(contentsOf: other.values) }

    var count: Int { values.count }

    /// Percentiles (0...1) of the samples, in nanoseconds; 0 when empty.
    func percentiles(_ ps: [Double]) -> [Int64] {
        guard !values.isEmpty else { return ps.map { _ in 0 } }
        let sorted = values.sorted()
        return ps.map { p in
            let rank = Int((p * Double(sorted.count)).rounded(.up)) - 1
            return sorted[min(sorted.count - 1, max(0, rank))]
        }
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attos) = components
        return seconds * 1_000_000_000 + attos / 1_000_000_000
    }

    var seconds: Double { Double(nanoseconds) / 1e9 }
}

/// The median of `values` (mean of the middle two for an even count).
func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/// The read- and write-like syscalls this process made so far (`syscr`, `syscw` in /proc/self/io,
/// summed over all threads), or nil where that file is unavailable.
func processSyscallCounts() -> (reads: Int, writes: Int)? {
    let fd = open("/proc/self/io", O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 1024)
    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard n > 0 else { return nil }
    let text = String(decoding: buffer[0..<n], as: UTF8.self)
    var reads: Int?
    var writes: Int?
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: ":")
        guard parts.count == 2 else { continue }
        let value = Int(parts[1].trimmingPrefix(" "))
        if parts[0] == "syscr" { reads = value }
        if parts[0] == "syscw" { writes = value }
    }
    guard let reads, let writes else { return nil }
    return (reads, writes)
}

/// CPU seconds (user + system) used by this process so far.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
