import BreakwaterCodeGen
import Foundation
import SwiftProtobuf
import SwiftProtobufPluginLibrary
import Testing

/// One golden case of `Fixtures/cases.txt`.
struct GoldenCase: Sendable, CustomTestStringConvertible {
    var name: String
    var proto: String
    var options: String

    var testDescription: String { name }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static let all: [GoldenCase] = {
        let url = fixtures.appendingPathComponent("cases.txt")
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard fields.count >= 2, !fields[0].hasPrefix("#") else { return nil }
            return GoldenCase(name: fields[0], proto: fields[1], options: fields.count > 2 ? fields[2] : "")
        }
    }()

    var goldenDirectory: URL { Self.fixtures.appendingPathComponent("golden/\(name)") }

    /// The options, with a module-mappings path made absolute (it is relative to Fixtures).
    var resolvedOptions: String {
        options.replacingOccurrences(
            of: "ProtoPathModuleMappings=", with: "ProtoPathModuleMappings=\(Self.fixtures.path)/")
    }

    /// The file descriptor of the case's .proto, from the committed descriptor set.
    func fileDescriptor() throws -> FileDescriptor {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("descriptors/\(name).pb"))
        let set = try Google_Protobuf_FileDescriptorSet(serializedBytes: data)
        guard let file = DescriptorSet(proto: set).fileDescriptor(named: proto) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "\(proto) is not in \(name).pb"])
        }
        return file
    }
}

@Suite("protoc-gen-breakwater: golden files and a compile check")
struct CodeGenGoldenTests {
    @Test("the cases file lists every fixture")
    func casesAreListed() {
        #expect(GoldenCase.all.map(\.name) == ["routeguide", "nopackage", "wkt", "inventory", "messages_only", "importer"])
    }

    @Test("the generator's output equals the golden file", arguments: GoldenCase.all)
    func matchesGolden(_ golden: GoldenCase) throws {
        let file = try golden.fileDescriptor()
        let generator = try FileGenerator(options: GeneratorOptions(parameter: golden.resolvedOptions))
        let name = generator.outputFileName(for: file)
        let expected = try String(
            contentsOf: golden.goldenDirectory.appendingPathComponent(name), encoding: .utf8)
        let actual = generator.generate(file)
        if actual != expected {
            let expectedLines = expected.split(separator: "\n", omittingEmptySubsequences: false)
            let actualLines = actual.split(separator: "\n", omittingEmptySubsequences: false)
            let first = zip(expectedLines, actualLines).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                ?? min(expectedLines.count, actualLines.count)
            Issue.record("""
                \(name) differs from its golden file at line \(first + 1) (regenerate with scripts/generate-protos.sh):
                golden:    \(first < expectedLines.count ? String(expectedLines[first]) : "<end>")
                generated: \(first < actualLines.count ? String(actualLines[first]) : "<end>")
                """)
        }
    }

    @Test("output file names follow FileNaming")
    func fileNaming() throws {
        var options = GeneratorOptions()
        #expect(options.outputFileName(for: "a/b/c.proto") == "a/b/c.grpc.swift")
        options.fileNaming = .pathToUnderscores
        #expect(options.outputFileName(for: "a/b/c.proto") == "a_b_c.grpc.swift")
        options.fileNaming = .dropPath
        #expect(options.outputFileName(for: "a/b/c.proto") == "c.grpc.swift")
    }

    @Test("options parse, and unknown or malformed ones are errors")
    func options() throws {
        let options = try GeneratorOptions(parameter: "Visibility=Package, Client=false,Reflection=no,ExtraModuleImports=Foo")
        #expect(options.visibility == .package)
        #expect(!options.client && options.server && !options.reflection)
        #expect(options.extraModuleImports == ["Foo"])
        #expect(throws: GeneratorOptions.Error.self) { try GeneratorOptions(parameter: "Visibility=Open") }
        #expect(throws: GeneratorOptions.Error.self) { try GeneratorOptions(parameter: "Server=maybe") }
        #expect(throws: GeneratorOptions.Error.self) { try GeneratorOptions(parameter: "Colour=blue") }
    }

    @Test("client only and server only leave out the other side")
    func sides() throws {
        let wkt = try String(contentsOf: GoldenCase.fixtures.appendingPathComponent("golden/wkt/wkt.grpc.swift"), encoding: .utf8)
        #expect(wkt.contains("struct Client"))
        #expect(!wkt.contains("protocol ServiceProtocol"))
        let inventory = try String(
            contentsOf: GoldenCase.fixtures.appendingPathComponent("golden/inventory/shop_inventory.grpc.swift"), encoding: .utf8)
        #expect(!inventory.contains("struct Client"))
        #expect(inventory.contains("public protocol ServiceProtocol"))
        #expect(!inventory.contains("fileDescriptorProtos"))
    }

    @Test("proto comments become doc comments")
    func comments() throws {
        let file = try GoldenCase.all[0].fileDescriptor()
        let generated = try FileGenerator(options: GeneratorOptions()).generate(file)
        #expect(generated.contains("/// Interface exported by the server.\n///\n/// A second paragraph"))
        #expect(generated.contains("    /// Obtains the feature at a given position."))
    }

    /// Builds every golden file with the messages protoc-gen-swift made for it, as one module in a
    /// scratch folder, against the modules this package built: Swift 6 mode, warnings are errors, with
    /// the ExistentialAny and NonisolatedNonsendingByDefault upcoming features on.
    @Test("the golden files compile in Swift 6 mode without warnings")
    func goldenFilesCompile() throws {
        let build = try BuildProducts.locate()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("breakwater-codegen-\(getpid())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        // The importer case's messages live in another module, as its module mappings say: build
        // routeguide's messages as RouteGuideMessages first.
        let messages = try build.compile(
            sources: [GoldenCase.fixtures.appendingPathComponent("golden/routeguide/routeguide.pb.swift").path],
            module: "RouteGuideMessages", output: scratch.appendingPathComponent("RouteGuideMessages.o").path,
            emitModuleIn: scratch.path)
        #expect(messages.status == 0, "swiftc failed on RouteGuideMessages:\n\(messages.output)")
        var sources: [String] = []
        for golden in GoldenCase.all {
            for file in try FileManager.default.contentsOfDirectory(atPath: golden.goldenDirectory.path) where file.hasSuffix(".swift") {
                let copy = scratch.appendingPathComponent("\(golden.name)_\(file)")
                try FileManager.default.copyItem(at: golden.goldenDirectory.appendingPathComponent(file), to: copy)
                sources.append(copy.path)
            }
        }
        let result = try build.compile(
            sources: sources, module: "GoldenCheck", output: scratch.appendingPathComponent("GoldenCheck.o").path,
            searchPaths: [scratch.path])
        #expect(result.status == 0, "swiftc failed:\n\(result.output)")
    }
}

/// Where `swift build` put this package's modules, found from the test bundle's own path.
struct BuildProducts {
    var binDirectory: URL

    static func locate() throws -> BuildProducts {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            url = URL(fileURLWithPath: exe)
        }
        // …/debug/BreakwaterPackageTests.xctest, or a file inside it.
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Modules/BreakwaterCore.swiftmodule").path) {
                return BuildProducts(binDirectory: url)
            }
            url.deleteLastPathComponent()
        }
        throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "no Modules/BreakwaterCore.swiftmodule above the test bundle"])
    }

    /// Compiles `sources` as one module to an object file with the toolchain's `swiftc`.
    /// With `emitModuleIn`, the module's `.swiftmodule` goes there too; `searchPaths` are more `-I` folders.
    func compile(
        sources: [String], module: String, output: String, emitModuleIn: String? = nil, searchPaths: [String] = []
    ) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        var arguments = [
            "swiftc", "-c", "-wmo", "-swift-version", "6", "-warnings-as-errors",
            // The upcoming features this package's own modules turn on; generated code must not care.
            "-enable-upcoming-feature", "ExistentialAny", "-enable-upcoming-feature", "NonisolatedNonsendingByDefault",
            "-I", binDirectory.appendingPathComponent("Modules").path,
            "-Xcc", "-fmodule-map-file=" + binDirectory.appendingPathComponent("CBreakwaterTSan.build/module.modulemap").path,
            "-module-name", module, "-package-name", "scratch", "-o", output,
        ]
        for path in searchPaths { arguments += ["-I", path] }
        if let emitModuleIn {
            arguments += ["-emit-module", "-emit-module-path", "\(emitModuleIn)/\(module).swiftmodule"]
        }
        process.arguments = arguments + sources
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
