import EchoService
import Benchmark
import BreakwaterCore
import BreakwaterWire
import BreakwaterResilience
import BreakwaterHTTP2

/// Microbenchmarks of Breakwater's hot paths. Run: swift package --package-path Benchmarks benchmark
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput],
        timeUnits: .nanoseconds,
        warmupIterations: 3,
        maxDuration: .seconds(5),
        maxIterations: 1_000_000
    )
    callBenchmarks()
    deframerBenchmarks()
    headerBenchmarks()
    breakerBenchmarks()
    handOffBenchmarks()
}

// MARK: Unary calls

/// Per call (scaled by 1,000), over the in-process transport, over HTTP/2 on loopback and over
/// `InstantTransport` (no server: the chain's own work is its CLOSED row minus bare+deadline): a bare
/// client, a bare client with the chain's 30 s deadline, the standard chain with its breaker CLOSED, and
/// (over the first two) the chain rejecting at once with its breaker OPEN.
func callBenchmarks() {
    let perCall = Benchmark.Configuration(scalingFactor: .kilo)

    for link in [EchoFixture.Link.inProcess, .http2, .instant] {
        let prefix = "Unary \(link.rawValue)"
        for (name, deadline) in [("bare", false), ("bare+deadline", true)] {
            Benchmark("\(prefix), \(name)", configuration: perCall) { (benchmark, echo: EchoFixture) in
                await callMany(benchmark, echo)
            } setup: {
                try await EchoFixture(link, chain: false, deadline: deadline)
            }
        }

        Benchmark("\(prefix), chain CLOSED", configuration: perCall) { (benchmark, echo: EchoFixture) in
            await callMany(benchmark, echo)
            if echo.getBreaker?.currentState != .closed { benchmark.error("the breaker left CLOSED") }
        } setup: {
            try await EchoFixture(link, chain: true)
        }

        // A breaker trips on a failing server; `InstantTransport` answers every call (and a rejection
        // never reaches the transport: the in-process row is the same call path).
        guard link != .instant else { continue }
        // With the syscall count (macOS only in ordo's benchmark 1.38; on Linux count them with
        // `perf stat -e raw_syscalls:sys_enter` around the benchmark executable): a rejection makes none.
        var openConfiguration = perCall
        openConfiguration.metrics = Benchmark.defaultConfiguration.metrics + [.syscalls]
        Benchmark("\(prefix), chain OPEN rejection", configuration: openConfiguration) { (benchmark, echo: EchoFixture) in
            var notRejected = 0
            for _ in benchmark.scaledIterations {
                do {
                    _ = try await echo.echo.get(echo.request)
                    notRejected += 1
                } catch let error as RPCError where error.isCircuitBreakerRejection {
                    continue
                } catch {
                    notRejected += 1
                }
            }
            if notRejected > 0 { benchmark.error("\(notRejected) calls were not rejected by the breaker") }
        } setup: {
            // A server that fails every call trips the breaker for real (5 failed attempts); it stays OPEN.
            let echo = try await EchoFixture(link, chain: true, faults: EchoProvider.Faults(failRate: 1))
            for _ in 0..<20 where echo.getBreaker?.currentState != .open { _ = await echo.get() }
            guard echo.getBreaker?.currentState == .open else { throw SetupFailure("the breaker did not open") }
            return echo
        }
    }
}

/// `benchmark.scaledIterations` sequential `Get`s; a failed one is a benchmark error.
func callMany(_ benchmark: Benchmark, _ echo: EchoFixture) async {
    var failures = 0
    for _ in benchmark.scaledIterations where await !echo.get() { failures += 1 }
    if failures > 0 { benchmark.error("\(failures) calls failed") }
}

struct SetupFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: The deframer

/// 4 MiB of back-to-back messages of one size, fed in 1 MiB chunks, every message taken out: GB/s is
/// 4 MiB / wall time per iteration.
func deframerBenchmarks() {
    let total = 4 << 20
    for (label, size) in [("16 B", 16), ("1 KiB", 1024), ("64 KiB", 64 << 10)] {
        let stream = framedMessages(size: size, count: total / (size + 5))
        Benchmark("Deframer, \(label) messages, 4 MiB in 1 MiB chunks") { benchmark in
            var deframer = MessageDeframer()
            var messages = 0
            var offset = 0
            while offset < stream.count {
                let end = min(stream.count, offset + (1 << 20))
                stream.withUnsafeBytes { deframer.append(UnsafeRawBufferPointer(rebasing: $0[offset..<end])) }
                offset = end
                do {
                    while let frame = try deframer.next() {
                        blackHole(frame)
                        messages += 1
                    }
                } catch {
                    benchmark.error("deframing failed: \(error)")
                    return
                }
            }
            if messages != total / (size + 5) { benchmark.error("\(messages) messages, expected \(total / (size + 5))") }
        }
    }
}

// MARK: Header blocks

/// Building and reading the request, response and trailer header blocks (per block, scaled by 1,000).
func headerBenchmarks() {
    let perBlock = Benchmark.Configuration(scalingFactor: .kilo)
    let method = Echo_Echo.Method.Get.descriptor
    let metadata: Metadata = ["x-request-id": "4f1c2b7a-9d1e-4c55-8f7e-2a0b6c3d9e10", "authorization": "Bearer abc.def.ghi"]

    Benchmark("Headers, build request (deadline, no metadata)", configuration: perBlock) { benchmark in
        let now = ContinuousClock.now
        let head = ClientRequestHead(method: method, deadline: now + .seconds(30))
        for _ in benchmark.scaledIterations {
            blackHole(GRPCHeaders.requestHeaders(
                for: head, authority: "127.0.0.1:50051", scheme: "http", userAgent: "breakwater-swift/0.1", now: now))
        }
    }
    Benchmark("Headers, build request (deadline, 2 metadata)", configuration: perBlock) { benchmark in
        let now = ContinuousClock.now
        let head = ClientRequestHead(method: method, metadata: metadata, deadline: now + .seconds(30))
        for _ in benchmark.scaledIterations {
            blackHole(GRPCHeaders.requestHeaders(
                for: head, authority: "127.0.0.1:50051", scheme: "http", userAgent: "breakwater-swift/0.1", now: now))
        }
    }
    Benchmark("Headers, parse request (server)", configuration: perBlock) { benchmark in
        let now = ContinuousClock.now
        let fields = GRPCHeaders.requestHeaders(
            for: ClientRequestHead(method: method, deadline: now + .seconds(30)),
            authority: "127.0.0.1:50051", scheme: "http", userAgent: "breakwater-swift/0.1", now: now)
        for _ in benchmark.scaledIterations {
            blackHole(GRPCHeaders.parseRequest(fields, peer: "127.0.0.1:40000", now: now))
        }
    }
    Benchmark("Headers, build response headers + OK trailers (server)", configuration: perBlock) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(GRPCHeaders.responseHeaders(metadata: [:], encoding: .identity))
            blackHole(GRPCHeaders.trailers(status: Status(code: .ok), metadata: [:], trailersOnly: false))
        }
    }
    Benchmark("Headers, parse response headers + OK trailers (client)", configuration: perBlock) { benchmark in
        let headers = GRPCHeaders.responseHeaders(metadata: [:], encoding: .identity)
        let trailers = GRPCHeaders.trailers(status: Status(code: .ok), metadata: [:], trailersOnly: false)
        for _ in benchmark.scaledIterations {
            blackHole(GRPCHeaders.parseResponseHeaders(headers))
            blackHole(GRPCHeaders.parseTrailers(trailers))
        }
    }
}

// MARK: The circuit breaker

/// acquire + record(OK) on a CLOSED breaker, from 1 thread and from 2 threads at once (per pair, scaled
/// by 1,000; with 2 threads each does 1,000 pairs per iteration, so the figure is wall time per pair per
/// thread). OPEN: acquire rejected.
func breakerBenchmarks() {
    let perPair = Benchmark.Configuration(scalingFactor: .kilo)

    Benchmark("Breaker CLOSED acquire+record, 1 thread", configuration: perPair) { (benchmark, breaker: CircuitBreaker) in
        for _ in benchmark.scaledIterations { closedPair(breaker) }
    } setup: {
        try CircuitBreaker(name: "bench")
    }

    Benchmark("Breaker CLOSED acquire+record, 2 threads contending", configuration: perPair) { (benchmark, breaker: CircuitBreaker) in
        let iterations = benchmark.scaledIterations
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    for _ in iterations { closedPair(breaker) }
                }
            }
        }
    } setup: {
        try CircuitBreaker(name: "bench")
    }

    Benchmark("Breaker OPEN acquire rejected, 1 thread", configuration: perPair) { (benchmark, breaker: CircuitBreaker) in
        var admitted = 0
        for _ in benchmark.scaledIterations {
            do {
                let permit = try breaker.acquire()
                breaker.record(.ok, for: permit)
                admitted += 1
            } catch {
                blackHole(error)
            }
        }
        if admitted > 0 { benchmark.error("\(admitted) calls admitted by an OPEN breaker") }
    } setup: {
        let breaker = try CircuitBreaker(name: "bench", policy: CircuitBreakerPolicy(openDuration: .seconds(3600)))
        for _ in 0..<5 {
            if let permit = try? breaker.acquire() { breaker.record(.unavailable, for: permit) }
        }
        guard breaker.currentState == .open else { throw SetupFailure("the breaker did not open") }
        return breaker
    }
}

@inline(never)
func closedPair(_ breaker: CircuitBreaker) {
    do {
        let permit = try breaker.acquire()
        breaker.record(.ok, for: permit)
    } catch {
        fatalError("a CLOSED breaker rejected: \(error)")
    }
}

// MARK: Thread hand-offs

/// What a task pays to be resumed by an event loop, per round trip (scaled by 1,000): the task has the loop
/// resume it (`execute`, then `resume`). From the global executor that is two thread hand-offs, the wake-up
/// of the sleeping loop and the global executor's wake-up of a worker for the resumed task; a default-mode
/// client call pays one of the two, or both when it cannot write its request itself. With the loop as task
/// executor preference the same round trip stays on the loop's thread: the difference between the rows is
/// what the hand-offs cost on this machine.
func handOffBenchmarks() {
    let perTrip = Benchmark.Configuration(scalingFactor: .kilo)

    Benchmark("Hand-off, global task to a sleeping loop and back", configuration: perTrip) { (benchmark, loop: EventLoop) in
        for _ in benchmark.scaledIterations { await resumedBy(loop) }
    } setup: {
        EventLoopGroup.shared.next()
    }

    Benchmark("Hand-off, task preferring the loop, round trip on the loop", configuration: perTrip) { (benchmark, loop: EventLoop) in
        let iterations = benchmark.scaledIterations
        await withTaskExecutorPreference(loop) {
            for _ in iterations { await resumedBy(loop) }
        }
    } setup: {
        EventLoopGroup.shared.next()
    }
}

/// Suspends until `loop` resumes the caller.
@inline(never)
func resumedBy(_ loop: EventLoop) async {
    await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
        loop.execute { continuation.resume() }
    }
}
