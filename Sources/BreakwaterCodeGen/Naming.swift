import SwiftProtobufPluginLibrary

/// Swift names for proto services and methods: keywords, Swift's common types and clashes with the
/// names the generated code declares itself are avoided by appending underscores.
enum Naming {
    /// Words that cannot name a function without escaping.
    static let keywords: Set<String> = {
        var words = swiftKeywordsUsedInDeclarations
            .union(swiftKeywordsUsedInStatements)
            .union(swiftKeywordsUsedInExpressionsAndTypes)
            .union(swiftSpecialVariables)
        words.formUnion(["self", "Self", "init", "deinit", "subscript", "_"])
        return words
    }()

    /// Words that cannot name a type without escaping, or that would change the meaning of code that
    /// uses the type (`Foo.Type`, `Foo.Protocol`).
    static let reserved: Set<String> = keywords
        .union(swiftKeywordsReservedInParticularContexts)
        .union(["Type", "Protocol"])

    /// Type names the generated code refers to unqualified that must not be shadowed.
    static let commonTypes: Set<String> = swiftCommonTypes.union(["Sendable", "Error", "Never", "Void"])

    /// `name`, with underscores appended while it is a keyword, a common type or in `taken`.
    static func sanitizedTypeName(_ name: String, avoiding taken: Set<String> = []) -> String {
        var result = name
        while reserved.contains(result) || commonTypes.contains(result) || taken.contains(result) {
            result += "_"
        }
        return result
    }

    /// `name` in lower camel case, with underscores appended while it is a keyword or in `taken`.
    static func functionName(_ name: String, avoiding taken: Set<String>) -> String {
        var result = NamingUtils.toLowerCamelCase(name)
        if result.isEmpty { result = "call" }
        if let first = result.first, first.isNumber { result = "_" + result }
        while keywords.contains(result) || taken.contains(result) {
            result += "_"
        }
        return result
    }

    /// The first component of a (possibly qualified) Swift type name: what unqualified lookup resolves.
    static func leadingComponent(_ typeName: String) -> String {
        if let dot = typeName.firstIndex(of: ".") { return String(typeName[..<dot]) }
        return typeName
    }
}
