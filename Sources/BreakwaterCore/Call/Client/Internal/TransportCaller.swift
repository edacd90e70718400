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
        let head = ClientRequestHead(
            method: context.descriptor,
            metadata: request.metadata,
            deadline: context.deadline,
            compression: context.options.compression ?? .identity,
            maxReceiveMessageBytes: context.options.maxReceiveMessageBytes ?? Self.defaultMaxReceiveMessageBytes,
            waitForReady: context.options.waitForReady ?? false,
            isProbe: context.options.isProbe ?? false
        )
        // Observers (metrics, tracing) see the attempt and its message sizes; `nil` when there are none.
        let observed = CallObservation(context)
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
            return ClientResponse(
                metadata: metadata,
                body: .init(transport: TransportResponseStream(stream: stream, sender: sender, pending: nil, observed: observed))
            )
        case .message?:
            // Messages before headers: tolerate it, the headers were empty.
            return ClientResponse(
                metadata: [:],
                body: .init(transport: TransportResponseStream(stream: stream, sender: sender, pending: first, observed: observed))
            )
        case .end(let end)?:
            sender?.cancel()
            if end.status.code == .ok {
                return ClientResponse(metadata: [:], body: .init(parts: [.trailers(end.trailers)]))
            }
            throw sender?.failure(orStatusOf: end) ?? RPCError(streamEnd: end)
        case nil:
            sender?.cancel()
            throw RPCError(code: .internalError, message: "The transport ended the stream without a status")
        }
    }
}
