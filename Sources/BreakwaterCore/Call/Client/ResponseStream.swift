/// The typed response messages of a server- or bidirectional-streaming call.
///
/// Iterate it once. Iteration ends normally when the call ends with status OK, and throws an `RPCError`
/// otherwise. The response headers are available at once (`metadata`), the trailers after the end
/// (`trailers`). Dropping the stream before its end cancels the call.
public struct ResponseStream<Response: Sendable>: AsyncSequence, Sendable {
    /// A response message.
    public typealias Element = Response
    /// An `RPCError`.
    public typealias Failure = any Error

    /// The response headers' custom metadata.
    public let metadata: Metadata
    let storage: Storage

    init(
        response: ClientResponse,
        requests: RequestMessages?,
        deserialize: @escaping @Sendable ([UInt8]) throws -> Response
    ) {
        metadata = response.metadata
        storage = Storage(body: response.body, requests: requests, deserialize: deserialize)
    }

    /// Creates a stream over a response from an interceptor chain, turning each message into a `Response`
    /// with `deserializer`.
    public init(response: ClientResponse, deserializer: some MessageDeserializer<Response>) {
        self.init(response: response, requests: nil) { try deserializer.deserialize($0) }
    }

    /// The trailing metadata, once the stream has ended (also after it ended with an error); `nil` before.
    public var trailers: Metadata? { storage.trailers.withLock { $0 } }

    /// Cancels the call. Iteration then throws CANCELLED unless the call had already ended.
    public func cancel() {
        storage.body.cancel()
        storage.requests?.close()
    }

    /// Starts iterating.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: storage.body.makeAsyncIterator(), storage: storage)
    }

    /// Iterates the response messages.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: ClientResponse.Body.AsyncIterator
        let storage: Storage

        /// The next message; `nil` after the call ended with OK. Throws an `RPCError` otherwise.
        public mutating func next() async throws -> Response? {
            while true {
                let part: ClientResponsePart?
                do {
                    part = try await base.next()
                } catch {
                    let rpc = RPCError.wrapping(error, code: .unknown, message: "The response failed")
                    storage.finish(trailers: rpc.metadata)
                    throw rpc
                }
                switch part {
                case .message(let bytes)?:
                    do {
                        return try storage.deserialize(bytes)
                    } catch {
                        storage.body.cancel()
                        storage.finish(trailers: [:])
                        throw RPCError(
                            code: .internalError, message: "Failed to deserialize a response message", cause: error)
                    }
                case .trailers(let trailers)?:
                    storage.finish(trailers: trailers)
                case nil:
                    storage.finish(trailers: [:])
                    return nil
                }
            }
        }
    }

    /// Shared by the stream and its iterator; closes the request side when the last one goes.
    final class Storage: Sendable {
        let body: ClientResponse.Body
        let requests: RequestMessages?
        let deserialize: @Sendable ([UInt8]) throws -> Response
        let trailers: TSanMutex<Metadata?> = TSanMutex(nil)

        init(body: ClientResponse.Body, requests: RequestMessages?, deserialize: @escaping @Sendable ([UInt8]) throws -> Response) {
            self.body = body
            self.requests = requests
            self.deserialize = deserialize
        }

        deinit {
            requests?.close()
        }

        func finish(trailers: Metadata) {
            self.trailers.withLock { if $0 == nil { $0 = trailers } }
            requests?.close()
        }
    }
}
