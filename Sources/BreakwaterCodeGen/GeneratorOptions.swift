import SwiftProtobufPluginLibrary

/// The options of `protoc-gen-breakwater`, given as `--breakwater_opt=Key=Value` (several may be joined
/// with commas).
///
/// | Key | Values | Default |
/// |---|---|---|
/// | `Visibility` | `Public`, `Package`, `Internal` | `Internal` |
/// | `Client` | `true`, `false`: generate the typed client | `true` |
/// | `Server` | `true`, `false`: generate the service protocols and their registration | `true` |
/// | `Reflection` | `true`, `false`: embed the file descriptors for server reflection | `true` |
/// | `FileNaming` | `FullPath`, `PathToUnderscores`, `DropPath` | `FullPath` |
/// | `ProtoPathModuleMappings` | a path to a swift-protobuf module-mappings file | none |
/// | `ExtraModuleImports` | a module to import (may repeat) | none |
public struct GeneratorOptions: Sendable, Equatable {
    /// The access level of the generated declarations.
    public enum Visibility: String, Sendable, Equatable {
        /// `public` declarations, for a library module others import.
        case `public` = "Public"
        /// `package` declarations, visible to the other modules of the same package.
        case `package` = "Package"
        /// `internal` declarations (no modifier), for use inside one module.
        case `internal` = "Internal"

        /// The modifier to put before a declaration, with a trailing space; empty for `internal`.
        var modifier: String {
            switch self {
            case .public: "public "
            case .package: "package "
            case .internal: ""
            }
        }
    }

    /// How the output file is named after the input `.proto` path (`a/b/c.proto`).
    public enum FileNaming: String, Sendable, Equatable {
        /// `a/b/c.grpc.swift`.
        case fullPath = "FullPath"
        /// `a_b_c.grpc.swift`.
        case pathToUnderscores = "PathToUnderscores"
        /// `c.grpc.swift`.
        case dropPath = "DropPath"
    }

    /// An option that could not be understood.
    public struct Error: Swift.Error, CustomStringConvertible, Equatable {
        /// What was wrong.
        public var description: String
    }

    /// The access level of the generated declarations.
    public var visibility: Visibility = .internal
    /// Whether to generate the typed client.
    public var client = true
    /// Whether to generate the service protocols and their registration.
    public var server = true
    /// Whether to embed the serialized file descriptors for server reflection.
    public var reflection = true
    /// How the output file is named.
    public var fileNaming: FileNaming = .fullPath
    /// The path of a swift-protobuf module-mappings file: which module holds the messages of which
    /// `.proto` file, for messages generated in other modules.
    public var protoPathModuleMappings: String?
    /// Modules to import in addition to the ones the generated code needs.
    public var extraModuleImports: [String] = []

    /// The defaults: internal, client and server, reflection, full-path file names.
    public init() {}

    /// Parses `Key=Value` pairs as protoc passes them.
    public init(pairs: [(key: String, value: String)]) throws(Error) {
        for (key, value) in pairs {
            switch key {
            case "Visibility":
                guard let parsed = Visibility(rawValue: value) else {
                    throw Error(description: "Visibility must be Public, Package or Internal, not '\(value)'")
                }
                visibility = parsed
            case "Client":
                client = try Self.bool(key, value)
            case "Server":
                server = try Self.bool(key, value)
            case "Reflection":
                reflection = try Self.bool(key, value)
            case "FileNaming":
                guard let parsed = FileNaming(rawValue: value) else {
                    throw Error(description: "FileNaming must be FullPath, PathToUnderscores or DropPath, not '\(value)'")
                }
                fileNaming = parsed
            case "ProtoPathModuleMappings":
                protoPathModuleMappings = value.isEmpty ? nil : value
            case "ExtraModuleImports":
                guard !value.isEmpty else { throw Error(description: "ExtraModuleImports needs a module name") }
                extraModuleImports.append(value)
            case "":
                continue
            default:
                throw Error(description: "unknown option '\(key)'")
            }
        }
    }

    /// Parses the parameter string protoc passes (`Key=Value,Key=Value`).
    public init(parameter: String) throws(Error) {
        let pairs = parameter.split(separator: ",").map { item -> (key: String, value: String) in
            if let equals = item.firstIndex(of: "=") {
                return (String(item[..<equals]).trimmed, String(item[item.index(after: equals)...]).trimmed)
            }
            return (String(item).trimmed, "")
        }
        try self.init(pairs: pairs)
    }

    private static func bool(_ key: String, _ value: String) throws(Error) -> Bool {
        switch value.lowercased() {
        case "true", "yes", "1": return true
        case "false", "no", "0": return false
        default: throw Error(description: "\(key) must be true or false, not '\(value)'")
        }
    }

    /// The output file name for the `.proto` file `protoPath`.
    public func outputFileName(for protoPath: String) -> String {
        var base = protoPath
        if base.hasSuffix(".proto") { base.removeLast(".proto".count) }
        switch fileNaming {
        case .fullPath:
            break
        case .pathToUnderscores:
            base = base.replacingOccurrences(of: "/", with: "_")
        case .dropPath:
            if let slash = base.lastIndex(of: "/") { base = String(base[base.index(after: slash)...]) }
        }
        return base + ".grpc.swift"
    }
}

extension String {
    var trimmed: String {
        var s = Substring(self)
        while let first = s.first, first.isWhitespace { s.removeFirst() }
        while let last = s.last, last.isWhitespace { s.removeLast() }
        return String(s)
    }

    func replacingOccurrences(of target: Character, with replacement: Character) -> String {
        String(map { $0 == target ? replacement : $0 })
    }
}
