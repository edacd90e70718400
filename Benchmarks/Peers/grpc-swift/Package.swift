// swift-tools-version:6.1
// grpc-swift 2 comparison peer for Breakwater's benchmarks. Standalone: not part of the root package or CI;
// built in release by the comparison script only. Generated code in Sources/EchoPeer is committed (generate.sh).
import PackageDescription

let swiftSettings: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
  name: "grpc-swift-peer",
  platforms: [.macOS(.v15), .iOS(.v18), .tvOS(.v18), .watchOS(.v11), .visionOS(.v2)],
  products: [
    .executable(name: "gs-echo-server", targets: ["gs-echo-server"]),
    .executable(name: "gs-echo-load", targets: ["gs-echo-load"]),
  ],
  dependencies: [
    .package(url: "https://github.com/grpc/grpc-swift-2", exact: "2.4.3"),
    .package(url: "https://github.com/grpc/grpc-swift-nio-transport", exact: "2.9.2"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf", exact: "2.4.1"),
    .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0", traits: []),
  ],
  targets: [
    // Messages (protoc-gen-swift) and stubs (protoc-gen-grpc-swift-2) for Protos/echo.proto, plus the service.
    .target(
      name: "EchoPeer",
      dependencies: [
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),
    .executableTarget(
      name: "gs-echo-server",
      dependencies: [
        "EchoPeer",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
      ],
      swiftSettings: swiftSettings
    ),
    .executableTarget(
      name: "gs-echo-load",
      dependencies: [
        "EchoPeer",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
      ],
      swiftSettings: swiftSettings
    ),
  ]
)
