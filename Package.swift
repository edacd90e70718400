// swift-tools-version: 6.0
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let callPath: [SwiftSetting] = strict + [
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]

let package = Package(
    name: "Breakwater",
    products: [
        .library(name: "BreakwaterCore", targets: ["BreakwaterCore"]),
        .library(name: "BreakwaterWire", targets: ["BreakwaterWire"]),
        .library(name: "BreakwaterHTTP2", targets: ["BreakwaterHTTP2"]),
        .library(name: "BreakwaterResilience", targets: ["BreakwaterResilience"]),
        .library(name: "BreakwaterProtobuf", targets: ["BreakwaterProtobuf"]),
        // The echo example's service and stubs, for the Benchmarks package and other tools.
        .library(name: "EchoService", targets: ["EchoService"]),
        .executable(name: "echo-server", targets: ["EchoServer"]),
        .executable(name: "echo-client", targets: ["EchoClient"]),
        .executable(name: "echo-bench", targets: ["EchoBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        // System libraries, found through pkg-config.
        .systemLibrary(
            name: "CNghttp2",
            pkgConfig: "libnghttp2",
            providers: [.apt(["libnghttp2-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // zlib's macro-based API, wrapped for the wire codecs' gzip.
        .target(
            name: "CBreakwaterZlib",
            linkerSettings: [.linkedLibrary("z")]
        ),
        // What Glibc's overlay does not export for the event loops: epoll, eventfd, accept4, thread names.
        .target(name: "CBreakwaterPOSIX"),
        // ThreadSanitizer's acquire/release annotations as weak symbols, for the package's TSanMutex.
        .target(name: "CBreakwaterTSan"),

        // The RPC model: status, metadata, methods, call options, call and stream types, interceptors,
        // client and server call execution. No I/O, no wire format.
        .target(
            name: "BreakwaterCore",
            dependencies: [
                "CBreakwaterTSan",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: callPath
        ),
        // gRPC over HTTP/2 on the wire, as pure functions and values: header blocks, grpc-timeout, status
        // mapping, message framing and compression.
        .target(
            name: "BreakwaterWire",
            dependencies: ["BreakwaterCore", "CBreakwaterZlib"],
            swiftSettings: strict
        ),
        // The transport: event loops, sockets, nghttp2, OpenSSL.
        .target(
            name: "BreakwaterHTTP2",
            dependencies: [
                "BreakwaterCore",
                "BreakwaterWire",
                "CNghttp2",
                "COpenSSL",
                "CBreakwaterPOSIX",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Breaker, retry and timeout interceptors; policy table; service config.
        .target(
            name: "BreakwaterResilience",
            dependencies: [
                "BreakwaterCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: callPath
        ),
        // A MessageSerializer/MessageDeserializer pair for SwiftProtobuf messages.
        .target(
            name: "BreakwaterProtobuf",
            dependencies: [
                "BreakwaterCore",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strict
        ),

        // The echo example: generated messages, hand-written stubs, server and client.
        .target(
            name: "EchoService",
            dependencies: [
                "BreakwaterCore",
                "BreakwaterProtobuf",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Examples/echo/EchoService",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "EchoServer",
            dependencies: [
                "EchoService",
                "BreakwaterCore",
                "BreakwaterHTTP2",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/echo/EchoServer",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "EchoClient",
            dependencies: [
                "EchoService",
                "BreakwaterCore",
                "BreakwaterHTTP2",
                "BreakwaterResilience",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/echo/EchoClient",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "EchoBench",
            dependencies: [
                "EchoService",
                "BreakwaterCore",
                "BreakwaterHTTP2",
                "BreakwaterResilience",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/echo/EchoBench",
            swiftSettings: strict
        ),

        // Test helpers shared by several test targets (clocks, seeded randomness, time-limit scaling, child processes).
        .target(
            name: "BreakwaterTestSupport",
            dependencies: ["BreakwaterCore"],  // for TSanMutex
            path: "Tests/BreakwaterTestSupport",
            swiftSettings: strict
        ),
        .testTarget(
            name: "BreakwaterCoreTests",
            dependencies: ["BreakwaterCore", "BreakwaterTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "BreakwaterWireTests",
            dependencies: ["BreakwaterCore", "BreakwaterWire", "BreakwaterTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "BreakwaterHTTP2Tests",
            dependencies: ["BreakwaterCore", "BreakwaterWire", "BreakwaterHTTP2", "BreakwaterTestSupport", "CNghttp2"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "BreakwaterResilienceTests",
            dependencies: ["BreakwaterCore", "BreakwaterResilience", "BreakwaterTestSupport", "EchoService"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "EchoTests",
            dependencies: ["BreakwaterCore", "BreakwaterHTTP2", "BreakwaterProtobuf", "EchoService", "BreakwaterResilience", "BreakwaterTestSupport"],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
