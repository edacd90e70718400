/// The transport end of the client interceptor chain: opens a stream, sends the request and returns once
/// the response headers arrived (or throws for a trailers-only non-OK response).
struct TransportCaller: Sendable {
    let transport: any ClientTransport

    static let defaultMaxReceiveMessageBytes = 4 * 1024 * 1024

    /// The error of a request message over ``CallOptions/maxSendMessageBytes`` (as grpc-java words it).
    static func overSendLimit(_ size: Int, _ limit: Int) -> RPCError {
        RPCError(code: .resourceExhausted, message: "Request message of \(size) bytes is larger than the limit of \(limit) bytes")
    }

    func call(request: ClientRequest, context: ClientContext) async throws -> ClientResponse {
        if let deadline = context.deadline, deadline <= .now {
            throw RPCError(code: .deadlineExceeded, message: "The deadline passed before the call started")
        }
        if Task.isCancelled {
            throw RPCError(code: .cancelled, message: "The call was cancelled before it started")
        }
        let sendLimit = context.options.maxSendMessageBytes
        if let sendLimit, let message = request.messages.singleMessage, message.count > sendLimit {
            throw Self.overSendLimit(message.count, sendLimit)
        }
        // Observers (metrics, tracing) see the attempt: each may add to its metadata (the attempt span's
        // trace context) and learn how it ends; `nil` when there are none.
        var attemptMetadata = request.metadata
        let observed = CallObservation.attemptStarting(context, metadata: &attemptMetadata)
        let head = ClientRequestHead(
            method: context.descriptor,
            metadata: attemptMetadata,
            deadline: context.deadline,
            compression: context.options.compression ?? .identity,
            maxReceiveMessageBytes: context.options.maxReceiveMessageBytes ?? Self.defaultMaxReceiveMessageBytes,
            waitForReady: context.options.waitForReady ?? false,
            isProbe: context.options.isProbe ?? false
        )
        observed?.report(.attemptStarted)
        let stream = await transport.makeStream(head: head)

        let sender: RequestSender?
        if let message = request.messages.singleMessage {
            sender = nil
            observed?.report(.messageSent(bytes: message.count))
            do {
                try await stream.send(message, endStream: true)
            } catch {
                // The stream already ended; its status comes through `next`.
            }
        } else {
            sender = RequestSender.start(
                messages: request.messages, stream: stream, sendLimit: sendLimit, observed: observed)
        }

        let first = await stream.next()
        switch first {
        case .headers(let metadata)?:
            return ClientResponse(metadata: metadata, body: .init(transport: Self.body(stream, sender, nil, observed)))
        case .message?:
            // Messages before headers: tolerate it, the headers were empty.
            return ClientResponse(metadata: [:], body: .init(transport: Self.body(stream, sender, first, observed)))
        case .end(let end)?:
            sender?.cancel()
            if end.status.code == .ok {
                observed?.responseEnded(.trailers(end.trailers))
                return ClientResponse(metadata: [:], body: .init(parts: [.trailers(end.trailers)]))
            }
            let error = sender?.failure(orStatusOf: end) ?? RPCError(streamEnd: end)
            observed?.responseEnded(.error(error))
            throw error
        case nil:
            sender?.cancel()
            let error = RPCError(code: .internalError, message: "The transport ended the stream without a status")
            observed?.responseEnded(.error(error))
            throw error
        }
    }

    /// The response body of an attempt that got past its headers; it tells the attempt's observers
    /// how it ends, when they asked.
    private static func body(
        _ stream: any ClientTransportStream, _ sender: RequestSender?, _ pending: ClientStreamEvent?,
        _ observed: CallObservation?
    ) -> TransportResponseStream {
        let body = TransportResponseStream(stream: stream, sender: sender, pending: pending, observed: observed)
        if let observed, observed.watchesEnd { body.addObserver(observed) }
        return body
    }
}
