// swift-tools-version: 6.0
// A service of one's own on Breakwater, generated on every build by the BreakwaterProtoGenerator
// plugin from Sources/KeyValue/kv.proto: no hand-written glue. See README.md.
import PackageDescription

let package = Package(
    name: "kv",
    platforms: [.macOS(.v15)],
    dependencies: [
        // In a project of your own: .package(url: "<Breakwater's repository URL>", from: "<version>").
        .package(name: "Breakwater", path: "../.."),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    ],
    targets: [
        .target(
            name: "KeyValue",
            dependencies: [
                .product(name: "BreakwaterCore", package: "Breakwater"),
                .product(name: "BreakwaterProtobuf", package: "Breakwater"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            plugins: [.plugin(name: "BreakwaterProtoGenerator", package: "Breakwater")]
        ),
        .executableTarget(
            name: "kv-demo",
            dependencies: [
                "KeyValue",
                .product(name: "BreakwaterCore", package: "Breakwater"),
                .product(name: "BreakwaterHTTP2", package: "Breakwater"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
