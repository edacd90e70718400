// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "BreakwaterBenchmarks",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "breakwater-load", targets: ["BreakwaterLoad"]),
        .executable(name: "breakwater-memory", targets: ["BreakwaterMemory"]),
        .executable(name: "breakwater-observability", targets: ["BreakwaterObservabilityCost"]),
        .executable(name: "breakwater-chain-cost", targets: ["BreakwaterChainCost"]),
    ],
    dependencies: [
        .package(name: "Breakwater", path: ".."),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // What the executables share: process statistics, the echo texts, connecting.
        .target(
            name: "BenchSupport",
            dependencies: [
                .product(name: "EchoService", package: "Breakwater"),
                .product(name: "BreakwaterCore", package: "Breakwater"),
                .product(name: "BreakwaterHTTP2", package: "Breakwater"),
            ]
        ),
        .executableTarget(
            name: "BreakwaterLoad",
            dependencies: [
                .product(name: "EchoService", package: "Breakwater"),
                "BenchSupport",
                .product(name: "BreakwaterCore", package: "Breakwater"),
                .product(name: "BreakwaterHTTP2", package: "Breakwater"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // glibc's mallinfo2, which Swift's Glibc module does not export.
        .target(name: "CBenchShims"),
        .executableTarget(
            name: "BreakwaterMemory",
            dependencies: [
                .product(name: "EchoService", package: "Breakwater"),
                "BenchSupport",
                "CBenchShims",
                .product(name: "BreakwaterCore", package: "Breakwater"),
                .product(name: "BreakwaterHTTP2", package: "Breakwater"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // What metrics and tracing add per call, on and off.
        .executableTarget(
            name: "BreakwaterObservabilityCost",
            dependencies: [
                "BenchSupport",
                .product(name: "BreakwaterResilience", package: "Breakwater"),
                .product(name: "EchoService", package: "Breakwater"),
                .product(name: "BreakwaterCore", package: "Breakwater"),
                .product(name: "BreakwaterObservability", package: "Breakwater"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // What the resilience chain adds per call, and what an OPEN breaker's rejection costs.
        .executableTarget(
            name: "BreakwaterChainCost",
            dependencies: [
                "BenchSupport",
                .product(name: "BreakwaterResilience", package: "Breakwater"),
                .product(name: "EchoService", package: "Breakwater"),
                .product(name: "BreakwaterCore", package: "Breakwater"),
            ]
        ),
        // Microbenchmarks (ordo-one/benchmark): swift package --package-path Benchmarks benchmark
        .executableTarget(
            name: "BreakwaterBenchmarks",
            dependencies: [
                "BenchSupport",
                .product(name: "EchoService", package: "Breakwater"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "BreakwaterCore", package: "Breakwater"),
                .product(name: "BreakwaterWire", package: "Breakwater"),
                .product(name: "BreakwaterHTTP2", package: "Breakwater"),
                .product(name: "BreakwaterResilience", package: "Breakwater"),
            ],
            path: "Benchmarks/BreakwaterBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
