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
        // Per-call metrics (swift-metrics) and tracing (swift-distributed-tracing) interceptors.
        .library(name: "BreakwaterObservability", targets: ["BreakwaterObservability"]),
        // gRPC's health service (grpc.health.v1): server implementation and client helper.
        .library(name: "BreakwaterHealth", targets: ["BreakwaterHealth"]),
        // gRPC's server reflection service (grpc.reflection.v1 and v1alpha).
        .library(name: "BreakwaterReflection", targets: ["BreakwaterReflection"]),
        // The echo example's service and stubs, for the Benchmarks package and other tools.
        .library(name: "EchoService", targets: ["EchoService"]),
        .executable(name: "echo-server", targets: ["EchoServer"]),
        .executable(name: "echo-client", targets: ["EchoClient"]),
        .executable(name: "echo-bench", targets: ["EchoBench"]),
        // Code generation: the protoc plugin for services.
        .executable(name: "protoc-gen-breakwater", targets: ["protoc-gen-breakwater"]),
        // gRPC's interop test server and client (grpc.testing.TestService).
        .executable(name: "interop-server", targets: ["InteropServer"]),
        .executable(name: "interop-client", targets: ["InteropClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // `swift package generate-documentation`; a plugin only, linked into no product.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
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
        // ThreadSanitizer's acquire/release annotations as weak symbols, for the package's TSanMutex and the
        // event loops' ownership flag.
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
                "CBreakwaterTSan",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
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
        // Per-call metrics and tracing interceptors, client and server. On Core alone (and swift-metrics,
        // swift-distributed-tracing), so the RPC model links neither; a sibling of BreakwaterResilience.
        .target(
            name: "BreakwaterObservability",
            dependencies: [
                "BreakwaterCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
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
                // PrintingTracer, for the examples' --print-spans.
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            path: "Examples/echo/EchoService",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "EchoServer",
            dependencies: [
                "EchoService",
                "BreakwaterObservability",
                "BreakwaterCore",
                "BreakwaterHTTP2",
                "BreakwaterHealth",
                "BreakwaterReflection",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/echo/EchoServer",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "EchoClient",
            dependencies: [
                "EchoService",
                "BreakwaterObservability",
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

        // gRPC's health service: generated grpc.health.v1 code, the service and a client helper.
        .target(
            name: "BreakwaterHealth",
            dependencies: [
                "BreakwaterCore",
                "BreakwaterProtobuf",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strict
        ),

        // gRPC's server reflection service, on generated grpc.reflection.v1 and v1alpha code.
        .target(
            name: "BreakwaterReflection",
            dependencies: [
                "BreakwaterCore",
                "BreakwaterProtobuf",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strict
        ),

        // Code generation: the generator (on swift-protobuf's plugin library) and the protoc plugin.
        .target(
            name: "BreakwaterCodeGen",
            dependencies: [
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "SwiftProtobufPluginLibrary", package: "swift-protobuf"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "protoc-gen-breakwater",
            dependencies: [
                "BreakwaterCodeGen",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "SwiftProtobufPluginLibrary", package: "swift-protobuf"),
            ],
            swiftSettings: strict
        ),

        // gRPC's interop suite: generated grpc.testing code, the TestService and the client test cases.
        .target(
            name: "BreakwaterInterop",
            dependencies: [
                "BreakwaterCore",
                "BreakwaterProtobuf",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Interop/BreakwaterInterop",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "InteropServer",
            dependencies: [
                "BreakwaterInterop",
                "BreakwaterCore",
                "BreakwaterHTTP2",
                "BreakwaterHealth",
                "BreakwaterReflection",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Interop/InteropServer",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "InteropClient",
            dependencies: [
                "BreakwaterInterop",
                "BreakwaterCore",
                "BreakwaterHTTP2",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Interop/InteropClient",
            swiftSettings: strict
        ),

        // Test helpers shared by several test targets (clocks, seeded randomness, time-limit scaling, child processes).
        .target(
            name: "BreakwaterTestSupport",
            dependencies: ["BreakwaterCore", .product(name: "Logging", package: "swift-log")],  // TSanMutex; CapturedLog
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
            dependencies: [
                "BreakwaterCore", "BreakwaterWire", "BreakwaterHTTP2", "BreakwaterTestSupport", "CNghttp2",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "BreakwaterResilienceTests",
            dependencies: [
                "BreakwaterCore", "BreakwaterResilience", "BreakwaterTestSupport", "EchoService",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "BreakwaterObservabilityTests",
            dependencies: [
                "BreakwaterCore", "BreakwaterObservability", "BreakwaterResilience", "BreakwaterHTTP2",
                "BreakwaterTestSupport", "EchoService",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "EchoTests",
            dependencies: [
                "BreakwaterCore", "BreakwaterHTTP2", "BreakwaterProtobuf", "EchoService", "BreakwaterResilience",
                "BreakwaterTestSupport", "BreakwaterInterop", "BreakwaterHealth", "BreakwaterReflection",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        // Golden files and a compile check for the generator; Fixtures holds protos, descriptor sets and
        // the expected output (regenerated by scripts/generate-protos.sh).
        .testTarget(
            name: "BreakwaterCodeGenTests",
            dependencies: [
                "BreakwaterCodeGen",
                // Built first: the compile check builds generated code against their modules.
                "BreakwaterCore",
                "BreakwaterProtobuf",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "SwiftProtobufPluginLibrary", package: "swift-protobuf"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The build-tool plugin: runs protoc with protoc-gen-swift and protoc-gen-breakwater on a target's .proto
// files (configured by breakwater-protoc.json in the target). Declaring it makes SwiftPM build host copies
// of swift-protobuf's plugin library, protoc-gen-swift and protoc-gen-breakwater in every build of this
// package (measured: about 75 s more CPU, a third more than the rest of `swift build --build-tests`), so it
// is declared only where it is used: when Breakwater is a dependency checked out by SwiftPM or Xcode, or
// when BREAKWATER_BUILD_PLUGIN=1 is set (a path dependency such as Examples/kv, or to work on the plugin).
let checkedOut = ["/checkouts/", "/SourcePackages/", "/registry/downloads/"].contains {
    Context.packageDirectory.contains($0)
}
if checkedOut || Context.environment["BREAKWATER_BUILD_PLUGIN"] == "1" {
    package.products.append(.plugin(name: "BreakwaterProtoGenerator", targets: ["BreakwaterProtoGenerator"]))
    package.targets.append(
        .plugin(
            name: "BreakwaterProtoGenerator",
            capability: .buildTool(),
            dependencies: [
                "protoc-gen-breakwater",
                .product(name: "protoc-gen-swift", package: "swift-protobuf"),
            ],
            path: "Plugins/BreakwaterProtoGenerator"
        ))
}
