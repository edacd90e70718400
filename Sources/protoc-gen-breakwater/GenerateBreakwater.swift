import BreakwaterCodeGen
import SwiftProtobuf
import SwiftProtobufPluginLibrary

/// `protoc-gen-breakwater`: the protoc plugin that generates Breakwater clients, service protocols and
/// method descriptors. Run it through protoc: `protoc --breakwater_out=DIR [--breakwater_opt=...] file.proto`.
@main
struct GenerateBreakwater: CodeGenerator {
    var version: String? { "0.1.0" }

    var supportedFeatures: [Google_Protobuf_Compiler_CodeGeneratorResponse.Feature] {
        [.proto3Optional, .supportsEditions]
    }

    var supportedEditionRange: ClosedRange<Google_Protobuf_Edition> {
        Google_Protobuf_Edition.proto2...Google_Protobuf_Edition.edition2024
    }

    func generate(
        files: [FileDescriptor],
        parameter: any CodeGeneratorParameter,
        protoCompilerContext: any ProtoCompilerContext,
        generatorOutputs: any GeneratorOutputs
    ) throws {
        let options = try GeneratorOptions(pairs: parameter.parsedPairs)
        let generator = try FileGenerator(options: options)
        var names: [String: Int] = [:]
        for file in files {
            var name = generator.outputFileName(for: file)
            // Two inputs that map to one name (DropPath): number the later ones.
            if let count = names[name] {
                names[name] = count + 1
                name = String(name.dropLast(".grpc.swift".count)) + ".\(count).grpc.swift"
            } else {
                names[name] = 1
            }
            try generatorOutputs.add(fileName: name, contents: generator.generate(file))
        }
    }
}
