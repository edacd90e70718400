// swift-tools-version: 6.0
// The libFuzzer targets. A package of its own, so that the root package's `swift build` and
// `swift test` (and CI) never build them: `scripts/fuzz.sh` builds this one with
// `--sanitize fuzzer --sanitize address` in `.build-fuzz`.
import PackageDescription

let targets = [
    "deframer", "request-headers", "response-headers", "grpc-timeout",
    "percent-encoding", "base64", "gzip", "service-config",
]

// Executable module names cannot contain '-': fuzz-request-headers -> FuzzRequestHeaders.
func moduleName(_ target: String) -> String {
    "Fuzz" + target.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
}

let package = Package(
    name: "BreakwaterFuzz",
    products: targets.map { .executable(name: "fuzz-\($0)", targets: [moduleName($0)]) },
    dependencies: [.package(name: "Breakwater", path: "..")],
    targets: [
        .target(
            name: "FuzzSupport",
            dependencies: [
                .product(name: "BreakwaterCore", package: "Breakwater"),
                .product(name: "BreakwaterWire", package: "Breakwater"),
            ]
        ),
    ] + targets.map { target in
        .executableTarget(
            name: moduleName(target),
            dependencies: [
                "FuzzSupport",
                .product(name: "BreakwaterCore", package: "Breakwater"),
                .product(name: "BreakwaterWire", package: "Breakwater"),
                .product(name: "BreakwaterResilience", package: "Breakwater"),
            ],
            path: "Targets/\(target)",
            // No `main`: libFuzzer's own drives `LLVMFuzzerTestOneInput`.
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        )
    },
    swiftLanguageModes: [.v6]
)
