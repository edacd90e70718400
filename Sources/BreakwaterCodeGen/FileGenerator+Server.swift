import SwiftProtobuf
import SwiftProtobufPluginLibrary

/// The service protocols of a service (full and simple form), their defaults and their registration.
extension FileGenerator {
    // MARK: Server

    func emitServer(_ service: ServiceModel, into w: inout SwiftWriter) {
        let n = service.names
        let ns = service.namespace
        w.block("extension \(ns) {") { w in
            w.doc(
                "The server side of `\(service.protoName)`, full form: each handler receives the request metadata and returns the response metadata with its response.",
                "Conform to `\(n.simpleServiceProtocol)` instead when the handlers need no more metadata than `ServerContext` gives. Pass a conforming value to `GRPCServer(transport:services:)`, which registers its methods."
            )
            w.block("\(access)protocol \(n.serviceProtocol): BreakwaterCore.RegistrableService {") { w in
                var first = true
                for m in service.methods {
                    if !first { w.line() }
                    first = false
                    emitFullRequirement(m, service: service, into: &w)
                }
            }
            w.line()
            w.doc(
                "The server side of `\(service.protoName)`, simple form: unary handlers return the response message; streams come as a `RequestStream` and go out through a `ResponseWriter`.",
                "The request metadata is in `context.requestMetadata`; response metadata can be set through `context.responseHeaders` and `context.responseTrailers`. Pass a conforming value to `GRPCServer(transport:services:)`."
            )
            w.block("\(access)protocol \(n.simpleServiceProtocol): \(ns).\(n.serviceProtocol) {") { w in
                var first = true
                for m in service.methods {
                    if !first { w.line() }
                    first = false
                    emitSimpleRequirement(m, service: service, into: &w)
                }
            }
        }
        w.line()
        emitRegistration(service, into: &w)
        w.line()
        emitSimpleDefaults(service, into: &w)
    }

    func emitFullRequirement(_ m: MethodModel, service: ServiceModel, into w: inout SwiftWriter) {
        let handles = "Handles `\(service.protoName)/\(m.protoName)`."
        let context = "  - context: The call's context (deadline, peer, cancellation)."
        switch (m.clientStreaming, m.serverStreaming) {
        case (false, false):
            w.doc(m.comments, handles, """
                - Parameters:
                  - request: The request message.
                  - metadata: The request metadata.
                \(context)
                - Returns: The response message with the response headers and trailers to send.
                - Throws: An `RPCError` to end the call with its status; any other error ends it with UNKNOWN.
                """)
            w.line("func \(m.functionName)(")
            w.line("    request: \(m.input),")
            w.line("    metadata: BreakwaterCore.Metadata,")
            w.line("    context: BreakwaterCore.ServerContext")
            w.line(") async throws -> BreakwaterCore.UnaryResponse<\(m.output)>")
        case (true, false):
            w.doc(m.comments, handles, """
                - Parameters:
                  - requests: The request messages; iteration ends when the client ends its side.
                  - metadata: The request metadata.
                \(context)
                - Returns: The response message with the response headers and trailers to send.
                - Throws: An `RPCError` to end the call with its status; any other error ends it with UNKNOWN.
                """)
            w.line("func \(m.functionName)(")
            w.line("    requests: BreakwaterCore.RequestStream<\(m.input)>,")
            w.line("    metadata: BreakwaterCore.Metadata,")
            w.line("    context: BreakwaterCore.ServerContext")
            w.line(") async throws -> BreakwaterCore.UnaryResponse<\(m.output)>")
        case (false, true):
            w.doc(m.comments, handles, """
                - Parameters:
                  - request: The request message.
                  - metadata: The request metadata.
                \(context)
                - Returns: The response headers and the producer that writes the response messages and \
                returns the trailers.
                - Throws: An `RPCError` to end the call with its status; any other error ends it with UNKNOWN.
                """)
            w.line("func \(m.functionName)(")
            w.line("    request: \(m.input),")
            w.line("    metadata: BreakwaterCore.Metadata,")
            w.line("    context: BreakwaterCore.ServerContext")
            w.line(") async throws -> BreakwaterCore.StreamingResponse<\(m.output)>")
        case (true, true):
            w.doc(m.comments, handles, """
                - Parameters:
                  - requests: The request messages; iteration ends when the client ends its side.
                  - metadata: The request metadata.
                \(context)
                - Returns: The response headers and the producer that writes the response messages and \
                returns the trailers.
                - Throws: An `RPCError` to end the call with its status; any other error ends it with UNKNOWN.
                """)
            w.line("func \(m.functionName)(")
            w.line("    requests: BreakwaterCore.RequestStream<\(m.input)>,")
            w.line("    metadata: BreakwaterCore.Metadata,")
            w.line("    context: BreakwaterCore.ServerContext")
            w.line(") async throws -> BreakwaterCore.StreamingResponse<\(m.output)>")
        }
    }

    func emitSimpleRequirement(_ m: MethodModel, service: ServiceModel, into w: inout SwiftWriter) {
        let handles = "Handles `\(service.protoName)/\(m.protoName)`."
        let throwsDoc = "- Throws: An `RPCError` to end the call with its status; any other error ends it with UNKNOWN."
        switch (m.clientStreaming, m.serverStreaming) {
        case (false, false):
            w.doc(m.comments, handles, """
                - Parameters:
                  - request: The request message.
                  - context: The call's context: request metadata, deadline, response metadata.
                - Returns: The response message.
                \(throwsDoc)
                """)
            w.line("func \(m.functionName)(")
            w.line("    request: \(m.input),")
            w.line("    context: BreakwaterCore.ServerContext")
            w.line(") async throws -> \(m.output)")
        case (true, false):
            w.doc(m.comments, handles, """
                - Parameters:
                  - requests: The request messages; iteration ends when the client ends its side.
                  - context: The call's context: request metadata, deadline, response metadata.
                - Returns: The response message.
                \(throwsDoc)
                """)
            w.line("func \(m.functionName)(")
            w.line("    requests: BreakwaterCore.RequestStream<\(m.input)>,")
            w.line("    context: BreakwaterCore.ServerContext")
            w.line(") async throws -> \(m.output)")
        case (false, true):
            w.doc(m.comments, handles, """
                - Parameters:
                  - request: The request message.
                  - response: Writes the response messages; the call ends when the handler returns.
                  - context: The call's context: request metadata, deadline, response metadata.
                \(throwsDoc)
                """)
            w.line("func \(m.functionName)(")
            w.line("    request: \(m.input),")
            w.line("    response: BreakwaterCore.ResponseWriter<\(m.output)>,")
            w.line("    context: BreakwaterCore.ServerContext")
            w.line(") async throws")
        case (true, true):
            w.doc(m.comments, handles, """
                - Parameters:
                  - requests: The request messages; iteration ends when the client ends its side.
                  - response: Writes the response messages; the call ends when the handler returns.
                  - context: The call's context: request metadata, deadline, response metadata.
                \(throwsDoc)
                """)
            w.line("func \(m.functionName)(")
            w.line("    requests: BreakwaterCore.RequestStream<\(m.input)>,")
            w.line("    response: BreakwaterCore.ResponseWriter<\(m.output)>,")
            w.line("    context: BreakwaterCore.ServerContext")
            w.line(") async throws")
        }
    }

    func emitRegistration(_ service: ServiceModel, into w: inout SwiftWriter) {
        let n = service.names
        let ns = service.namespace
        w.block("extension \(ns).\(n.serviceProtocol) {") { w in
            w.doc("Registers a handler for each method of `\(service.protoName)` with `router`; `GRPCServer` calls it.")
            w.block("\(access)func registerMethods(with router: inout BreakwaterCore.RPCRouter) {") { w in
                for m in service.methods {
                    let register: String
                    let parameters: String
                    switch (m.clientStreaming, m.serverStreaming) {
                    case (false, false): (register, parameters) = ("registerUnary", "request, context")
                    case (true, false): (register, parameters) = ("registerClientStreaming", "requests, context")
                    case (false, true): (register, parameters) = ("registerServerStreaming", "request, writer, context")
                    case (true, true): (register, parameters) = ("registerBidirectionalStreaming", "requests, writer, context")
                    }
                    w.line("router.\(register)(")
                    w.line("    \(ns).\(n.method).\(m.enumName).descriptor,")
                    w.line("    deserializer: BreakwaterProtobuf.ProtobufDeserializer<\(m.input)>(),")
                    w.line("    serializer: BreakwaterProtobuf.ProtobufSerializer<\(m.output)>()")
                    w.block(") { \(parameters) in") { w in
                        let argument = m.clientStreaming ? "requests: requests" : "request: request"
                        w.line("let response = try await self.\(m.functionName)(")
                        w.line("    \(argument), metadata: context.requestMetadata, context: context")
                        w.line(")")
                        w.line("context.responseHeaders.add(contentsOf: response.metadata)")
                        if m.serverStreaming {
                            w.line("let trailers = try await response.producer(writer)")
                            w.line("context.responseTrailers.add(contentsOf: trailers)")
                        } else {
                            w.line("context.responseTrailers.add(contentsOf: response.trailers)")
                            w.line("return response.message")
                        }
                    }
                }
            }
        }
    }

    func emitSimpleDefaults(_ service: ServiceModel, into w: inout SwiftWriter) {
        let n = service.names
        let ns = service.namespace
        w.block("extension \(ns).\(n.simpleServiceProtocol) {") { w in
            var first = true
            for m in service.methods {
                if !first { w.line() }
                first = false
                w.doc("Calls the simple-form handler of `\(m.protoName)`; the metadata is in `context`.")
                w.line("\(access)func \(m.functionName)(")
                switch (m.clientStreaming, m.serverStreaming) {
                case (false, false):
                    w.line("    request: \(m.input),")
                    w.line("    metadata: BreakwaterCore.Metadata,")
                    w.line("    context: BreakwaterCore.ServerContext")
                    w.block(") async throws -> BreakwaterCore.UnaryResponse<\(m.output)> {") { w in
                        w.line("BreakwaterCore.UnaryResponse(message: try await self.\(m.functionName)(request: request, context: context))")
                    }
                case (true, false):
                    w.line("    requests: BreakwaterCore.RequestStream<\(m.input)>,")
                    w.line("    metadata: BreakwaterCore.Metadata,")
                    w.line("    context: BreakwaterCore.ServerContext")
                    w.block(") async throws -> BreakwaterCore.UnaryResponse<\(m.output)> {") { w in
                        w.line("BreakwaterCore.UnaryResponse(message: try await self.\(m.functionName)(requests: requests, context: context))")
                    }
                case (false, true):
                    w.line("    request: \(m.input),")
                    w.line("    metadata: BreakwaterCore.Metadata,")
                    w.line("    context: BreakwaterCore.ServerContext")
                    w.block(") async throws -> BreakwaterCore.StreamingResponse<\(m.output)> {") { w in
                        w.block("BreakwaterCore.StreamingResponse { writer in") { w in
                            w.line("try await self.\(m.functionName)(request: request, response: writer, context: context)")
                            w.line("return [:]")
                        }
                    }
                case (true, true):
                    w.line("    requests: BreakwaterCore.RequestStream<\(m.input)>,")
                    w.line("    metadata: BreakwaterCore.Metadata,")
                    w.line("    context: BreakwaterCore.ServerContext")
                    w.block(") async throws -> BreakwaterCore.StreamingResponse<\(m.output)> {") { w in
                        w.block("BreakwaterCore.StreamingResponse { writer in") { w in
                            w.line("try await self.\(m.functionName)(requests: requests, response: writer, context: context)")
                            w.line("return [:]")
                        }
                    }
                }
            }
        }
    }
}
