// grpc-swift 2 peer: closed-loop load client for echo.Echo over one GRPCClient (one HTTP/2 connection).
// Same CLI, semantics and output as the C++ peer (Benchmarks/Peers/cpp/echo_load.cc):
// Usage: gs-echo-load --target host:port [--concurrency C] (--requests N | --duration S) [--payload BYTES]
//                     [--warmup S] [--mode unary|expand] [--stream-messages M] [--no-flush-coalescing]
//   unary  (default): each caller makes Get calls with a --payload-byte text, one after another.
//   expand: each caller makes server-streaming Expand calls whose text is M copies of "breakwater-bench" joined
//           by single spaces (M = --stream-messages, default 1000); a call is correct when it ends OK with exactly
//           M responses, each "breakwater-bench". --payload must be 16 (the size of each streamed message).
// Prints one line: qps=... p50_us=... p90_us=... p99_us=... max_us=... calls=... errors=... concurrency=...
//   payload=... cpu_s=... peak_rss_kb=...   and in expand mode also  msgs_per_s=... stream_messages=...
// qps and the latencies are per call (per whole stream in expand mode); msgs_per_s counts the streamed
// messages of the measured, correct calls. cpu_s is the process's user+sys CPU time over the measured phase
// (getrusage delta, warm-up excluded); peak_rss_kb is ru_maxrss at exit. Percentiles come from the exact sorted
// samples with the C++ peer's index rule. Every response is checked: a failed call or a text other than the
// expected one counts as an error; the exit status is 1 when there were errors.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

import EchoPeer
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Synchronization

/// Writes to file descriptor 2 (the C `stderr` global is not concurrency-safe in Swift 6).
func printError(_ text: String) {
  var text = text
  text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}

/// The 16-byte text of Breakwater's echo-bench.
let word = "breakwater-bench"

struct Options {
  var target = ""
  var concurrency = 1
  var requests = 0
  var duration = 0.0
  var warmup = 0.2
  var payload = 16
  var expand = false
  var streamMessages = 1000
  var coalesce = true
}

func usage() -> Never {
  printError(
    "usage: gs-echo-load --target host:port [--concurrency C] (--requests N | --duration S) [--payload BYTES] "
      + "[--warmup S] [--mode unary|expand] [--stream-messages M] [--no-flush-coalescing]\n")
  exit(2)
}

func parseOptions() -> Options {
  var options = Options()
  var mode = "unary"
  var args = CommandLine.arguments.dropFirst()
  func next() -> String {
    guard let value = args.popFirst() else { usage() }
    return value
  }
  func int(_ text: String) -> Int {
    guard let value = Int(text) else { usage() }
    return value
  }
  func double(_ text: String) -> Double {
    guard let value = Double(text) else { usage() }
    return value
  }
  while let arg = args.popFirst() {
    switch arg {
    case "--target": options.target = next()
    case "--concurrency": options.concurrency = int(next())
    case "--requests": options.requests = int(next())
    case "--duration": options.duration = double(next())
    case "--payload": options.payload = int(next())
    case "--warmup": options.warmup = double(next())
    case "--mode": mode = next()
    case "--stream-messages": options.streamMessages = int(next())
    case "--no-flush-coalescing": options.coalesce = false
    default: usage()
    }
  }
  if options.target.isEmpty || options.concurrency < 1 || options.payload < 0
    || (options.requests > 0) == (options.duration > 0)
  {
    usage()
  }
  guard mode == "unary" || mode == "expand" else { usage() }
  options.expand = mode == "expand"
  if options.expand && (options.streamMessages < 1 || options.payload != 16) {
    printError(
      "gs-echo-load: expand mode needs --stream-messages >= 1 and --payload 16 (each message is \"\(word)\")\n")
    exit(2)
  }
  return options
}

/// host:port, host:port with a bracketed IPv6 host ([::1]:50051), or a DNS name.
func resolvableTarget(_ target: String) -> any ResolvableTarget {
  guard let colon = target.lastIndex(of: ":"), let port = Int(target[target.index(after: colon)...]) else {
    printError("gs-echo-load: --target must be host:port\n")
    exit(2)
  }
  var host = String(target[..<colon])
  if host.hasPrefix("[") && host.hasSuffix("]") {
    host = String(host.dropFirst().dropLast())
    return .ipv6(address: host, port: port)
  }
  let isIPv4 = host.split(separator: ".", omittingEmptySubsequences: false).count == 4
    && host.allSatisfy { $0 == "." || $0.isASCII && $0.isNumber }
  return isIPv4 ? .ipv4(address: host, port: port) : .dns(host: host, port: port)
}

func monotonicNanoseconds() -> UInt64 {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func resourceUsage() -> rusage {
  var usage = rusage()
  #if canImport(Glibc)
  getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
  #else
  getrusage(RUSAGE_SELF, &usage)
  #endif
  return usage
}

func cpuSeconds() -> Double {
  let ru = resourceUsage()
  return Double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + Double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6
}

/// printf-style formatting without Foundation.
func format(_ pattern: String, _ arguments: any CVarArg...) -> String {
  var buffer = [CChar](repeating: 0, count: 512)
  _ = withVaList(arguments) { vsnprintf(&buffer, buffer.count, pattern, $0) }
  return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

/// What a phase's callers share: the call budget (requests mode) or the deadline (duration mode).
final class Budget: Sendable {
  let requests: Int
  let deadline: UInt64
  let issued = Atomic<Int>(0)

  init(requests: Int, deadline: UInt64) {
    self.requests = requests
    self.deadline = deadline
  }

  func mayStart() -> Bool {
    if requests > 0 { return issued.wrappingAdd(1, ordering: .relaxed).oldValue < requests }
    return monotonicNanoseconds() < deadline
  }
}

/// One closed-loop caller's tally.
struct Tally: Sendable {
  var latenciesNs: [UInt64] = []
  var errors = 0
  var messages = 0  // expand mode: streamed messages of the recorded, correct calls
}

typealias EchoClient = Echo_Echo.Client<HTTP2ClientTransport.Posix>

/// One caller: starts the next call when the previous one has completed.
func caller(
  echo: EchoClient,
  request: Echo_EchoRequest,
  options: Options,
  budget: Budget,
  record: Bool,
  capacity: Int
) async -> Tally {
  var tally = Tally()
  if record { tally.latenciesNs.reserveCapacity(capacity) }
  while budget.mayStart() {
    let started = monotonicNanoseconds()
    var correct = false
    var received = 0
    do {
      if options.expand {
        let (count, bad) = try await echo.expand(request) { response in
          var count = 0
          var bad = false
          for try await message in response.messages {
            if message.text != word { bad = true }
            count += 1
          }
          return (count, bad)
        }
        received = count
        correct = !bad && count == options.streamMessages
      } else {
        let response = try await echo.get(request)
        correct = response.text == request.text
      }
    } catch {
      correct = false
    }
    let elapsed = monotonicNanoseconds() - started
    if !correct { tally.errors += 1 }
    if record {
      tally.latenciesNs.append(elapsed)
      if correct { tally.messages += received }
    }
  }
  return tally
}

/// Runs `concurrency` closed-loop callers until the requests or the duration are used up.
func runPhase(
  echo: EchoClient,
  request: Echo_EchoRequest,
  options: Options,
  requests: Int,
  seconds: Double,
  record: Bool
) async -> (elapsed: Double, tallies: [Tally]) {
  let capacity = requests > 0 ? requests / options.concurrency + 1 : 1 << 16
  let t0 = monotonicNanoseconds()
  let budget = Budget(requests: requests, deadline: t0 + UInt64(seconds * 1e9))
  let tallies = await withTaskGroup(of: Tally.self, returning: [Tally].self) { group in
    for _ in 0..<options.concurrency {
      group.addTask {
        await caller(
          echo: echo,
          request: request,
          options: options,
          budget: budget,
          record: record,
          capacity: capacity
        )
      }
    }
    var all: [Tally] = []
    for await tally in group { all.append(tally) }
    return all
  }
  return (Double(monotonicNanoseconds() - t0) / 1e9, tallies)
}

@main
struct GSEchoLoad {
  static func main() async throws {
    let options = parseOptions()

    var request = Echo_EchoRequest()
    if options.expand {
      request.text = Array(repeating: word, count: options.streamMessages).joined(separator: " ")
    } else {
      // Same 16-byte text as Breakwater's echo-bench, repeated or cut to --payload bytes.
      let base = Array(word.utf8)
      request.text = String(decoding: (0..<options.payload).map { base[$0 % base.count] }, as: UTF8.self)
    }

    var config = HTTP2ClientTransport.Posix.Config.defaults
    if !options.coalesce { config.connection.flushCoalescing = nil }
    let transport = try HTTP2ClientTransport.Posix(
      target: resolvableTarget(options.target),
      transportSecurity: .plaintext,
      config: config
    )

    let failed = try await withGRPCClient(transport: transport) { client -> Bool in
      let echo = Echo_Echo.Client(wrapping: client)

      // Connect first (the C++ peer waits up to 5 s for the channel): one Get, not counted.
      var probeOptions = CallOptions.defaults
      probeOptions.timeout = .seconds(5)
      probeOptions.waitForReady = true
      var probe = Echo_EchoRequest()
      probe.text = word
      do {
        _ = try await echo.get(probe, options: probeOptions)
      } catch {
        printError("gs-echo-load: cannot connect to \(options.target): \(error)\n")
        exit(1)
      }

      if options.warmup > 0 {  // same concurrency, not recorded
        _ = await runPhase(
          echo: echo,
          request: request,
          options: options,
          requests: 0,
          seconds: options.warmup,
          record: false
        )
      }

      let cpu0 = cpuSeconds()
      let (elapsed, tallies) = await runPhase(
        echo: echo,
        request: request,
        options: options,
        requests: options.requests,
        seconds: options.duration,
        record: true
      )
      let cpu = cpuSeconds() - cpu0
      let peakRSS = Int(resourceUsage().ru_maxrss)

      var all: [UInt64] = []
      var errors = 0
      var messages = 0
      for tally in tallies {
        all.append(contentsOf: tally.latenciesNs)
        errors += tally.errors
        messages += tally.messages
      }
      all.sort()
      func percentile(_ q: Double) -> Double {
        if all.isEmpty { return 0 }
        let index = min(all.count - 1, Int(q * Double(all.count - 1) + 0.5))
        return Double(all[index]) / 1000
      }
      var line = format(
        "qps=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f calls=%ld errors=%ld concurrency=%ld payload=%ld "
          + "cpu_s=%.3f peak_rss_kb=%ld",
        Double(all.count) / elapsed, percentile(0.5), percentile(0.9), percentile(0.99),
        all.isEmpty ? 0.0 : Double(all.last!) / 1000, all.count, errors, options.concurrency, options.payload,
        cpu, peakRSS
      )
      if options.expand {
        line += format(" msgs_per_s=%.1f stream_messages=%ld", Double(messages) / elapsed, options.streamMessages)
      }
      print(line)
      fflush(nil)  // all streams: the C `stdout` global is not concurrency-safe in Swift 6
      return errors > 0
    }
    exit(failed ? 1 : 0)
  }
}
