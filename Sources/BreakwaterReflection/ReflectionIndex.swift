import BreakwaterCore
import Foundation
import SwiftProtobuf

/// A question of the reflection protocol, the same in v1 and v1alpha.
enum ReflectionQuestion: Sendable {
    case fileByFilename(String)
    case fileContainingSymbol(String)
    case fileContainingExtension(type: String, number: Int32)
    case allExtensionNumbers(type: String)
    case listServices
    case unset
}

/// An answer of the reflection protocol.
enum ReflectionAnswer: Sendable {
    /// Serialized `FileDescriptorProto`s: the file asked for, then the files it imports, transitively.
    case files([Data])
    case extensionNumbers(type: String, numbers: [Int32])
    case services([String])
    case error(Status.Code, String)
}

/// The files, symbols and extensions a reflection service knows, from serialized file descriptors.
struct ReflectionIndex: Sendable {
    private var files: [String: Data] = [:]
    private var dependencies: [String: [String]] = [:]
    private var symbols: [String: String] = [:]
    private var extensions: [String: [Int32: String]] = [:]
    private(set) var services: [String] = []

    /// Indexes `sets`: each a service's `fileDescriptorProtos` (base64), its own file first. The services
    /// of each first file are the ones listed; imports are described but not listed.
    init(sets: [[String]]) throws(ReflectionService.Error) {
        var listed = Set<String>()
        for set in sets {
            for (position, encoded) in set.enumerated() {
                let compact = encoded.filter { !$0.isWhitespace }
                guard let data = Data(base64Encoded: compact) else {
                    throw ReflectionService.Error(description: "a file descriptor is not valid base64")
                }
                let file: Google_Protobuf_FileDescriptorProto
                do {
                    file = try Google_Protobuf_FileDescriptorProto(serializedBytes: data)
                } catch {
                    throw ReflectionService.Error(description: "a file descriptor does not parse: \(error)")
                }
                if files[file.name] == nil {
                    files[file.name] = data
                    dependencies[file.name] = file.dependency
                    add(file)
                }
                if position == 0 {
                    let prefix = file.package.isEmpty ? "" : file.package + "."
                    for service in file.service where listed.insert(prefix + service.name).inserted {
                        services.append(prefix + service.name)
                    }
                }
            }
        }
    }

    /// Answers one question.
    func answer(_ question: ReflectionQuestion) -> ReflectionAnswer {
        switch question {
        case .fileByFilename(let name):
            guard files[name] != nil else { return .error(.notFound, "unknown file \(Self.quote(name))") }
            return .files(closure(of: name))
        case .fileContainingSymbol(let symbol):
            let trimmed = symbol.hasPrefix(".") ? String(symbol.dropFirst()) : symbol
            guard let file = symbols[trimmed] else { return .error(.notFound, "unknown symbol \(Self.quote(symbol))") }
            return .files(closure(of: file))
        case .fileContainingExtension(let type, let number):
            guard let file = extensions[Self.trim(type)]?[number] else {
                return .error(.notFound, "no extension \(number) of \(Self.quote(type))")
            }
            return .files(closure(of: file))
        case .allExtensionNumbers(let type):
            let name = Self.trim(type)
            guard symbols[name] != nil else { return .error(.notFound, "unknown type \(Self.quote(type))") }
            return .extensionNumbers(type: name, numbers: (extensions[name]?.keys).map { $0.sorted() } ?? [])
        case .listServices:
            return .services(services)
        case .unset:
            return .error(.invalidArgument, "the request asks nothing")
        }
    }

    /// `name` and the files it imports, transitively, each once, `name` first.
    private func closure(of name: String) -> [Data] {
        var seen = Set<String>()
        var order: [String] = []
        func visit(_ file: String) {
            guard seen.insert(file).inserted, files[file] != nil else { return }
            order.append(file)
            for dependency in dependencies[file] ?? [] { visit(dependency) }
        }
        visit(name)
        return order.compactMap { files[$0] }
    }

    private mutating func add(_ file: Google_Protobuf_FileDescriptorProto) {
        let scope = file.package.isEmpty ? "" : file.package + "."
        for message in file.messageType { add(message, scope: scope, file: file.name) }
        for e in file.enumType { add(e, scope: scope, file: file.name) }
        for service in file.service {
            symbols[scope + service.name] = file.name
            for method in service.method { symbols[scope + service.name + "." + method.name] = file.name }
        }
        for field in file.extension { addExtension(field, scope: scope, file: file.name) }
    }

    private mutating func add(_ message: Google_Protobuf_DescriptorProto, scope: String, file: String) {
        let name = scope + message.name
        symbols[name] = file
        for field in message.field { symbols[name + "." + field.name] = file }
        for oneof in message.oneofDecl { symbols[name + "." + oneof.name] = file }
        for nested in message.nestedType { add(nested, scope: name + ".", file: file) }
        for e in message.enumType { add(e, scope: name + ".", file: file) }
        for field in message.extension { addExtension(field, scope: name + ".", file: file) }
    }

    /// Enum values are scoped beside their enum, as in C++.
    private mutating func add(_ e: Google_Protobuf_EnumDescriptorProto, scope: String, file: String) {
        symbols[scope + e.name] = file
        for value in e.value { symbols[scope + value.name] = file }
    }

    private mutating func addExtension(_ field: Google_Protobuf_FieldDescriptorProto, scope: String, file: String) {
        symbols[scope + field.name] = file
        extensions[Self.trim(field.extendee), default: [:]][field.number] = file
    }

    private static func trim(_ name: String) -> String {
        name.hasPrefix(".") ? String(name.dropFirst()) : name
    }

    private static func quote(_ text: String) -> String {
        text.count <= 64 ? "'\(text)'" : "'\(text.prefix(64))...'"
    }
}
