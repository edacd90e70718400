import Foundation
import PackagePlugin

/// The SwiftPM build-tool plugin that turns a target's `.proto` files into Swift on every build: the
/// messages with swift-protobuf's `protoc-gen-swift`, the services with `protoc-gen-breakwater`.
///
/// It reads `breakwater-protoc.json` from the target's folder (every key optional):
///
/// ```json
/// {
///   "visibility": "public",
///   "messages": true, "clients": true, "servers": true, "reflection": true,
///   "importPaths": ["."],
///   "protocPath": "/usr/bin/protoc"
/// }
/// ```
///
/// `importPaths` are relative to the target's folder (default: the folder itself); every `.proto` file of
/// the target must lie under one of them. `protoc` comes from `protocPath`, else the `PROTOC_PATH`
/// environment variable, else the `PATH` (Debian: `apt-get install protobuf-compiler`).
@main
struct BreakwaterProtoGenerator: BuildToolPlugin {
    struct Configuration: Decodable {
        var visibility: String?
        var messages: Bool?
        var clients: Bool?
        var servers: Bool?
        var reflection: Bool?
        var importPaths: [String]?
        var protocPath: String?
    }

    struct PluginError: Error, CustomStringConvertible {
        var description: String
    }

    static let configurationFile = "breakwater-protoc.json"

    func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
        guard let target = target as? SwiftSourceModuleTarget else { return [] }
        let directory = target.directoryURL
        let configURL = directory.appendingPathComponent(Self.configurationFile)
        var configuration = Configuration()
        if FileManager.default.fileExists(atPath: configURL.path) {
            do {
                configuration = try JSONDecoder().decode(Configuration.self, from: Data(contentsOf: configURL))
            } catch {
                throw PluginError(description: "\(configURL.path): \(error)")
            }
        }
        let protos = target.sourceFiles(withSuffix: ".proto").map(\.url)
        guard !protos.isEmpty else { return [] }

        let visibility: String
        switch (configuration.visibility ?? "internal").lowercased() {
        case "public": visibility = "Public"
        case "package": visibility = "Package"
        case "internal": visibility = "Internal"
        case let other: throw PluginError(description: "\(Self.configurationFile): visibility '\(other)' is not public, package or internal")
        }
        let importPaths = (configuration.importPaths ?? ["."]).map {
            directory.appendingPathComponent($0).standardizedFileURL
        }
        let protoc = try Self.protoc(configured: configuration.protocPath)
        let swiftPlugin = try context.tool(named: "protoc-gen-swift").url
        let breakwaterPlugin = try context.tool(named: "protoc-gen-breakwater").url
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("Generated")

        var breakwaterOptions = ["Visibility=\(visibility)"]
        if configuration.clients == false { breakwaterOptions.append("Client=false") }
        if configuration.servers == false { breakwaterOptions.append("Server=false") }
        if configuration.reflection == false { breakwaterOptions.append("Reflection=false") }
        let generateMessages = configuration.messages ?? true
        let generateServices = configuration.clients != false || configuration.servers != false

        var commands: [Command] = []
        for proto in protos {
            let path = proto.standardizedFileURL.path
            guard let root = importPaths.first(where: { path.hasPrefix($0.path + "/") }) else {
                throw PluginError(description: "\(path) is under none of the import paths \(importPaths.map(\.path))")
            }
            // The name protoc knows the file by, e.g. `kv/v1/kv.proto`, gives the output names.
            let relative = String(path.dropFirst(root.path.count + 1))
            let base = String(relative.dropLast(".proto".count))
            var arguments = importPaths.map { "--proto_path=\($0.path)" }
            var outputs: [URL] = []
            if generateMessages {
                arguments += [
                    "--plugin=protoc-gen-swift=\(swiftPlugin.path)",
                    "--swift_out=\(output.path)",
                    "--swift_opt=Visibility=\(visibility)",
                ]
                outputs.append(output.appendingPathComponent(base + ".pb.swift"))
            }
            if generateServices {
                arguments += [
                    "--plugin=protoc-gen-breakwater=\(breakwaterPlugin.path)",
                    "--breakwater_out=\(output.path)",
                    "--breakwater_opt=\(breakwaterOptions.joined(separator: ","))",
                ]
                outputs.append(output.appendingPathComponent(base + ".grpc.swift"))
            }
            arguments.append(path)
            commands.append(.buildCommand(
                displayName: "Generating Swift for \(relative)",
                executable: protoc,
                arguments: arguments,
                inputFiles: [proto, swiftPlugin, breakwaterPlugin]
                    + (FileManager.default.fileExists(atPath: configURL.path) ? [configURL] : []),
                outputFiles: outputs
            ))
        }
        return commands
    }

    /// `protoc`: as configured, else `$PROTOC_PATH`, else the first on `$PATH`.
    static func protoc(configured: String?) throws -> URL {
        if let configured { return URL(fileURLWithPath: configured) }
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["PROTOC_PATH"], !path.isEmpty { return URL(fileURLWithPath: path) }
        for directory in (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent("protoc")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw PluginError(description: """
            protoc was not found on PATH; install it (Debian: apt-get install protobuf-compiler), or set \
            "protocPath" in \(configurationFile) or the PROTOC_PATH environment variable
            """)
    }
}
