#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the kernel says about a process: CPU time, peak and current resident memory.
public enum ProcessStats {
    /// User plus system CPU seconds this process used so far (getrusage, all threads).
    public static func cpuSeconds() -> Double {
        let usage = selfUsage()
        let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) * 1e-6
        let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) * 1e-6
        return user + system
    }

    /// The peak resident set size of this process in KiB (getrusage's ru_maxrss; KiB on Linux).
    public static func peakRSSKiB() -> Int {
        Int(selfUsage().ru_maxrss)
    }

    private static func selfUsage() -> rusage {
        var usage = rusage()
        #if canImport(Glibc)
        _ = getrusage(RUSAGE_SELF.rawValue, &usage)
        #else
        _ = getrusage(RUSAGE_SELF, &usage)
        #endif
        return usage
    }

    /// The `Vm*` lines of /proc/PID/status (or /proc/self/status), in KiB, keyed by name (`VmRSS`, `VmHWM`, ...).
    /// Empty where /proc is not there.
    public static func memoryStatus(pid: Int32? = nil) -> [String: Int] {
        let path = pid.map { "/proc/\($0)/status" } ?? "/proc/self/status"
        guard let text = readSmallFile(path) else { return [:] }
        var result: [String: Int] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("Vm") || line.hasPrefix("Rss") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let fields = line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" })
            if let value = fields.first.flatMap({ Int($0) }) { result[String(line[..<colon])] = value }
        }
        return result
    }

    /// The current resident set size in KiB (VmRSS), or 0 where /proc is not there.
    public static func currentRSSKiB(pid: Int32? = nil) -> Int {
        memoryStatus(pid: pid)["VmRSS"] ?? 0
    }

    /// The text of a small file (a /proc entry), read with plain syscalls.
    static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Raises the soft limit of open files to at least `wanted` (at most the hard limit); returns the
    /// soft limit in force afterwards.
    @discardableResult
    public static func raiseOpenFileLimit(to wanted: Int) -> Int {
        var limit = rlimit()
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return -1 }
        if Int(limit.rlim_cur) < wanted {
            limit.rlim_cur = rlim_t(min(UInt64(wanted), UInt64(limit.rlim_max)))
            _ = setrlimit(resource, &limit)
            _ = getrlimit(resource, &limit)
        }
        return Int(limit.rlim_cur)
    }
}

/// printf-style formatting through the C library, so figures round exactly as the C++ peer's do.
public func cFormat(_ format: String, _ arguments: any CVarArg...) -> String {
    withVaList(arguments) { list in
        var buffer = [CChar](repeating: 0, count: 512)
        let needed = Int(vsnprintf(&buffer, buffer.count, format, list))
        precondition(needed < buffer.count, "cFormat: output longer than 511 bytes")
        return String(decoding: buffer[0..<needed].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Writes `text` and a newline (when missing) to standard error.
public func printToStandardError(_ text: String) {
    var line = text
    if !line.hasSuffix("\n") { line += "\n" }
    var bytes = Array(line.utf8)[...]
    while !bytes.isEmpty {
        let n = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        if n <= 0 { return }
        bytes = bytes.dropFirst(n)
    }
}
