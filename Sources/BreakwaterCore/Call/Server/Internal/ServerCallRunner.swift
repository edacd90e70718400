import Logging

/// Runs one accepted server call: interceptors, then the handler, then the stream's end with the
/// status the handler's outcome maps to.
enum ServerCallRunner {
    static func run(
        stream: any ServerTransportStream,
        route: RPCRoute,
        interceptors: [any ServerInterceptor],
        logger: Logger
    ) async {
        let context = ServerContext(descriptor: route.descriptor, kind: route.kind, stream: stream)
        let request = ServerRequest(
            metadata: stream.head.metadata,
            messages: RequestStream { try await stream.receive() }
        )
        do {
            // Calls the handler makes inherit this call's deadline (DeadlinePropagation).
            try await ServingCall.$deadline.withValue(context.deadline.map(StoredInstant.init)) {
                try await runChain(interceptors[...], route: route, request: request, context: context)
            }
            context.finish(status: .ok)
        } catch let error as RPCError {
            context.finish(status: error.status, extraTrailers: error.metadata)
        } catch is CancellationError {
            context.finish(status: Status(code: .cancelled, message: "The call was cancelled"))
        } catch {
            // Never leak an unexpected error's details to the client.
            logger.debug(
                "handler failed",
                metadata: [
                    "service": "\(route.descriptor.service)", "method": "\(route.descriptor.method)",
                    "peer": "\(context.peer)", "error": "\(error)",
                ])
            context.finish(status: Status(code: .unknown, message: "The service failed to handle the call"))
        }
    }

    private static func runChain(
        _ chain: ArraySlice<any ServerInterceptor>,
        route: RPCRoute,
        request: ServerRequest,
        context: ServerContext
    ) async throws {
        guard let first = chain.first else {
            try await route.handle(request, context)
            return
        }
        let rest = chain.dropFirst()
        try await first.intercept(request: request, context: context) { request, context in
            try await runChain(rest, route: route, request: request, context: context)
        }
    }
}
