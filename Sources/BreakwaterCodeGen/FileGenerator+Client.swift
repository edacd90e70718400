import SwiftProtobuf
import SwiftProtobufPluginLibrary

/// The typed client of a service: one method per RPC in each of its call shapes.
extension FileGenerator {
    // MARK: Client

    func emitClient(_ service: ServiceModel, into w: inout SwiftWriter) {
        let n = service.names
        let ns = service.namespace
        w.block("extension \(ns) {") { w in
            w.doc(
                "A typed client for `\(service.protoName)`: one function per RPC, calling through a `GRPCClient` (its transport, interceptors and default options).",
                "Unary and client-streaming calls return the response message, or with `…WithMetadata` the response with its headers and trailers; server- and bidirectional-streaming calls return a `ResponseStream` at once, without waiting for the server; it gives the headers (`try await stream.metadata`), the messages as it is iterated and, after the end, the trailers. Every call takes `CallOptions` (deadline, compression, message limit) and custom request metadata, and throws an `RPCError` when the call ends with a status other than OK (a streaming call from its iteration)."
            )
            w.block("\(access)struct \(n.client): Sendable {") { w in
                w.doc("The client the calls run through.")
                w.line("\(access)let client: BreakwaterCore.GRPCClient")
                w.line()
                w.doc("Creates a typed client whose calls run through `client`.")
                w.block("\(access)init(wrapping client: BreakwaterCore.GRPCClient) {") { w in
                    w.line("self.client = client")
                }
            }
        }
        w.line()
        w.block("extension \(ns).\(n.client) {") { w in
            var first = true
            for method in service.methods {
                if !first { w.line() }
                first = false
                emitClientMethod(method, service: service, into: &w)
            }
        }
    }

    func emitClientMethod(_ m: MethodModel, service: ServiceModel, into w: inout SwiftWriter) {
        let n = service.names
        let desc = "\(service.namespace).\(n.method).\(m.enumName).descriptor"
        let coders = [
            "serializer: BreakwaterProtobuf.ProtobufSerializer<\(m.input)>(),",
            "deserializer: BreakwaterProtobuf.ProtobufDeserializer<\(m.output)>(),",
        ]
        let optionsDoc = """
            - options: Options for this call (deadline, compression, message limit); unset ones come \
            from the client's defaults.
              - metadata: Custom request metadata.
            """
        let call = "Calls `\(service.protoName)/\(m.protoName)`."
        switch (m.clientStreaming, m.serverStreaming) {
        case (false, false):
            w.doc(m.comments, call, """
                - Parameters:
                  - request: The request message.
                  \(optionsDoc)
                - Returns: The response message.
                - Throws: `RPCError` when the call ends with a status other than OK.
                """)
            emitUnaryLike(m, functionName: m.functionName, returns: m.output, clientCall: "unary", desc: desc, coders: coders, into: &w)
            w.line()
            w.doc(call + " Returns the response with its metadata.", """
                - Parameters:
                  - request: The request message.
                  \(optionsDoc)
                - Returns: The response message with the response headers and trailers.
                - Throws: `RPCError` when the call ends with a status other than OK.
                """)
            emitUnaryLike(
                m, functionName: m.withMetadataName, returns: "BreakwaterCore.UnaryResponse<\(m.output)>",
                clientCall: "unaryWithMetadata", desc: desc, coders: coders, into: &w)
        case (false, true):
            w.doc(m.comments, call + " Returns the response stream at once, without waiting for the server.", """
                - Parameters:
                  - request: The request message.
                  \(optionsDoc)
                - Returns: The response messages and headers; iterate it once (dropping it cancels the \
                call). Iteration throws `RPCError` when the call ends with a status other than OK, also \
                when it failed before any response.
                """)
            emitUnaryLike(
                m, functionName: m.functionName, returns: "BreakwaterCore.ResponseStream<\(m.output)>",
                clientCall: "serverStreaming", desc: desc, coders: coders, into: &w)
        case (true, false):
            w.doc(m.comments, call, """
                - Parameters:
                  \(optionsDoc)
                  - requests: Writes the request messages; it runs once, in its own task, and returning \
                ends the request stream.
                - Returns: The response message.
                - Throws: `RPCError` when the call ends with a status other than OK.
                """)
            emitProducerCall(
                m, functionName: m.functionName, returns: m.output, clientCall: "clientStreaming",
                desc: desc, coders: coders, into: &w)
            w.line()
            w.doc(call + " Sends the elements of `requests`.", """
                - Parameters:
                  - requests: The request messages.
                  \(optionsDoc)
                - Returns: The response message.
                - Throws: `RPCError` when the call ends with a status other than OK.
                """)
            emitSequenceCall(
                m, n: n, functionName: m.functionName, returns: m.output, clientCall: "clientStreaming",
                desc: desc, coders: coders, into: &w)
            w.line()
            w.doc(call + " Returns the response with its metadata.", """
                - Parameters:
                  \(optionsDoc)
                  - requests: Writes the request messages; it runs once, in its own task, and returning \
                ends the request stream.
                - Returns: The response message with the response headers and trailers.
                - Throws: `RPCError` when the call ends with a status other than OK.
                """)
            emitProducerCall(
                m, functionName: m.withMetadataName, returns: "BreakwaterCore.UnaryResponse<\(m.output)>",
                clientCall: "clientStreamingWithMetadata", desc: desc, coders: coders, into: &w)
        case (true, true):
            let returns = "BreakwaterCore.ResponseStream<\(m.output)>"
            w.doc(m.comments, call + " Returns the response stream at once, without waiting for the server.", """
                `requests` runs concurrently with reading the responses, and while the call waits for the \
                response headers: it may write a request the server waits for after this function returned.
                """, """
                - Parameters:
                  \(optionsDoc)
                  - requests: Writes the request messages; it runs once, in its own task, and returning \
                ends the request stream.
                - Returns: The response messages and headers; iterate it once (dropping it cancels the \
                call). Iteration throws `RPCError` when the call ends with a status other than OK, also \
                when it failed before any response.
                """)
            emitProducerCall(
                m, functionName: m.functionName, returns: returns, clientCall: "bidirectionalStreaming",
                desc: desc, coders: coders, into: &w)
            w.line()
            w.doc(call + " Sends the elements of `requests`; returns the response stream at once.", """
                - Parameters:
                  - requests: The request messages.
                  \(optionsDoc)
                - Returns: The response messages and headers; iterate it once.
                """)
            emitSequenceCall(
                m, n: n, functionName: m.functionName, returns: returns, clientCall: "bidirectionalStreaming",
                desc: desc, coders: coders, into: &w)
        }
    }

    func emitUnaryLike(
        _ m: MethodModel, functionName: String, returns: String, clientCall: String, desc: String,
        coders: [String], into w: inout SwiftWriter
    ) {
        w.line("\(access)func \(functionName)(")
        w.line("    _ request: \(m.input),")
        w.line("    options: BreakwaterCore.CallOptions = .defaults,")
        w.line("    metadata: BreakwaterCore.Metadata = [:]")
        w.block(") async throws -> \(returns) {") { w in
            w.line("try await client.\(clientCall)(")
            w.line("    request: request,")
            w.line("    method: \(desc),")
            for coder in coders { w.line("    " + coder) }
            w.line("    options: options,")
            w.line("    metadata: metadata")
            w.line(")")
        }
    }

    func emitProducerCall(
        _ m: MethodModel, functionName: String, returns: String, clientCall: String, desc: String,
        coders: [String], into w: inout SwiftWriter
    ) {
        w.line("\(access)func \(functionName)(")
        w.line("    options: BreakwaterCore.CallOptions = .defaults,")
        w.line("    metadata: BreakwaterCore.Metadata = [:],")
        w.line("    requests: @escaping @Sendable (BreakwaterCore.RPCWriter<\(m.input)>) async throws -> Void")
        w.block(") async throws -> \(returns) {") { w in
            w.line("try await client.\(clientCall)(")
            w.line("    method: \(desc),")
            for coder in coders { w.line("    " + coder) }
            w.line("    options: options,")
            w.line("    metadata: metadata,")
            w.line("    requests: requests")
            w.line(")")
        }
    }

    func emitSequenceCall(
        _ m: MethodModel, n: ServiceModel.NestedNames, functionName: String, returns: String,
        clientCall: String, desc: String, coders: [String], into w: inout SwiftWriter
    ) {
        let generic = n.requests
        w.line("\(access)func \(functionName)<\(generic): AsyncSequence & Sendable>(")
        w.line("    _ requests: \(generic),")
        w.line("    options: BreakwaterCore.CallOptions = .defaults,")
        w.line("    metadata: BreakwaterCore.Metadata = [:]")
        w.block(") async throws -> \(returns) where \(generic).Element == \(m.input) {") { w in
            w.line("try await client.\(clientCall)(")
            w.line("    method: \(desc),")
            for coder in coders { w.line("    " + coder) }
            w.line("    options: options,")
            w.line("    metadata: metadata,")
            w.line("    requests: requests")
            w.line(")")
        }
    }
}
