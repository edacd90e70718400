import SwiftProtobufPluginLibrary

/// What the generator emits for one service, with every Swift name decided.
struct ServiceModel {
    /// The names the generated code declares inside the service's namespace. Each is the plain word
    /// unless a message type the service uses has that name, when underscores are appended.
    struct NestedNames {
        var method = "Method"
        var client = "Client"
        var serviceProtocol = "ServiceProtocol"
        var simpleServiceProtocol = "SimpleServiceProtocol"
        var input = "Input"
        var output = "Output"
        var requests = "Requests"
    }

    /// The fully qualified proto name, `package.Service`.
    var protoName: String
    /// The Swift namespace (an enum), e.g. `Echo_Echo`.
    var namespace: String
    /// The proto comments, as plain text.
    var comments: String
    var methods: [MethodModel]
    var names: NestedNames
}

/// One RPC of a service.
struct MethodModel {
    /// The method name in the .proto (and on the wire).
    var protoName: String
    /// The enum in `Namespace.Method` that describes it.
    var enumName: String
    /// The client and handler function name.
    var functionName: String
    /// The client function returning the metadata too (unary and client streaming).
    var withMetadataName: String
    /// The Swift request and response types.
    var input: String
    var output: String
    var clientStreaming: Bool
    var serverStreaming: Bool
    var comments: String
    var deprecated: Bool

    var kind: String {
        switch (clientStreaming, serverStreaming) {
        case (false, false): "unary"
        case (true, false): "clientStreaming"
        case (false, true): "serverStreaming"
        case (true, true): "bidirectionalStreaming"
        }
    }

    var shapeDescription: String {
        switch (clientStreaming, serverStreaming) {
        case (false, false): "unary: one request, one response"
        case (true, false): "client streaming: a stream of requests, one response"
        case (false, true): "server streaming: one request, a stream of responses"
        case (true, true): "bidirectional streaming: streams both ways"
        }
    }
}

extension ServiceModel {
    init(_ service: ServiceDescriptor, namer: SwiftProtobufNamer) {
        let file = service.file!
        protoName = service.fullName
        namespace = Naming.sanitizedTypeName(namer.typePrefix(forFile: file) + service.name)
        comments = Comments.text(of: service)

        // Unqualified names of the message types the service uses: nothing the generated code declares
        // inside the namespace may shadow them.
        var used = Set<String>()
        for method in service.methods {
            used.insert(Naming.leadingComponent(namer.fullName(message: method.inputType)))
            used.insert(Naming.leadingComponent(namer.fullName(message: method.outputType)))
        }
        used.insert(namespace)
        func unshadowed(_ name: String) -> String {
            var result = name
            while used.contains(result) { result += "_" }
            return result
        }
        var names = NestedNames()
        names.method = unshadowed(names.method)
        names.client = unshadowed(names.client)
        names.serviceProtocol = unshadowed(names.serviceProtocol)
        names.simpleServiceProtocol = unshadowed(names.simpleServiceProtocol)
        names.input = unshadowed(names.input)
        names.output = unshadowed(names.output)
        names.requests = unshadowed(names.requests)
        self.names = names

        // Enum names: unique, not shadowing message types nor the members of `Method`.
        var enumNames: Set<String> = ["descriptors"]
        enumNames.formUnion(used)
        // Function names: unique over all methods, including the derived `…WithMetadata` names, and
        // clear of the client's own members.
        var functionNames: Set<String> = ["client", "registerMethods"]
        var methods: [MethodModel] = []
        for method in service.methods {
            let enumName = Naming.sanitizedTypeName(method.name, avoiding: enumNames)
            enumNames.insert(enumName)
            let functionName = Naming.functionName(method.name, avoiding: functionNames)
            functionNames.insert(functionName)
            methods.append(MethodModel(
                protoName: method.name,
                enumName: enumName,
                functionName: functionName,
                withMetadataName: "",
                input: namer.fullName(message: method.inputType),
                output: namer.fullName(message: method.outputType),
                clientStreaming: method.clientStreaming,
                serverStreaming: method.serverStreaming,
                comments: Comments.text(of: method),
                deprecated: method.options.deprecated
            ))
        }
        for index in methods.indices where !methods[index].serverStreaming {
            var name = methods[index].functionName + "WithMetadata"
            while functionNames.contains(name) { name += "_" }
            functionNames.insert(name)
            methods[index].withMetadataName = name
        }
        self.methods = methods
    }
}

/// Proto source comments as plain text, for doc comments.
enum Comments {
    static func text(of element: some ProvidesSourceCodeLocation) -> String {
        guard let location = element.sourceCodeInfoLocation else { return "" }
        return clean(location.leadingComments.isEmpty ? location.trailingComments : location.leadingComments)
    }

    /// Drops the one space protoc keeps after `//`, trailing spaces, and blank lines at both ends.
    static func clean(_ raw: String) -> String {
        var lines = raw.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            var line = Substring(line)
            if line.first == " " { line.removeFirst() }
            while let last = line.last, last.isWhitespace { line.removeLast() }
            return String(line)
        }
        while lines.first?.isEmpty == true { lines.removeFirst() }
        while lines.last?.isEmpty == true { lines.removeLast() }
        return lines.joined(separator: "\n")
    }
}
