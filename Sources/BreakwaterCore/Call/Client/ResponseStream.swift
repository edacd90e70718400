/// The typed response messages of a server- or bidirectional-streaming call.
///
/// A streaming call returns its stream at once, without waiting for the server: the call goes on in a
/// task of its own until the response headers arrive (as grpc-go's `NewStream` and grpc-java's
/// `ClientCall.start` do). Servers commonly send their headers only with their first response message,
/// so a stream with nothing to say yet (a watch on a quiet key) never blocks its caller.
///
/// Iterate it once. The first `next()` waits for the headers and the first message. Iteration ends
/// normally when the call ends with status OK, and throws an `RPCError` otherwise, including for a call
/// that failed before any headers (a circuit breaker's rejection, UNAVAILABLE, UNIMPLEMENTED, a
/// trailers-only response, a passed deadline): that error comes from the first `next()` and from
/// ``metadata``. The trailers are available after the end (``trailers``).
///
/// Cancelling the task that iterates (or that waits for ``metadata``) cancels the call, as do
/// ``cancel()`` and dropping the stream before its end.
public struct ResponseStream<Response: Sendable>: AsyncSequence, Sendable {
    /// A response message.
    public typealias Element = Response
    /// An `RPCError`.
    public typealias Failure = any Error

    let storage: Storage

    init(
        call: StreamingCall,
        requests: RequestMessages?,
        deserialize: @escaping @Sendable ([UInt8]) throws -> Response
    ) {
        storage = Storage(call: call, requests: requests, deserialize: deserialize)
    }

    /// Creates a stream over a response from an interceptor chain, turning each message into a `Response`
    /// with `deserializer`.
    /// - Parameters:
    ///   - response: The response, its headers already arrived.
    ///   - deserializer: Turns each response message into a `Response`.
    public init(response: ClientResponse, deserializer: some MessageDeserializer<Response>) {
        self.init(call: StreamingCall(response: response), requests: nil) { try deserializer.deserialize($0) }
    }

    /// The response headers' custom metadata (empty for a trailers-only response), once they arrived.
    ///
    /// Waits for the headers, which a server may send only with its first response message. Throws the
    /// call's `RPCError` when it failed before its headers (the same error the first `next()` throws).
    /// Cancelling the waiting task cancels the call.
    public var metadata: Metadata {
        get async throws {
            do {
                return try await storage.call.response().metadata
            } catch {
                throw Storage.failure(error)
            }
        }
    }

    /// The trailing metadata, once the stream has ended (also after it ended with an error); `nil` before.
    public var trailers: Metadata? { storage.trailers.withLock { $0 } }

    /// Cancels the call, also before its headers arrived. Iteration then throws CANCELLED unless the call
    /// had already ended.
    public func cancel() {
        storage.call.cancel()
        storage.requests?.close()
    }

    /// Starts iterating.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(storage: storage)
    }

    /// Iterates the response messages.
    public struct AsyncIterator: AsyncIteratorProtocol {
        /// The body's iterator once the headers arrived; an empty one before, and after a failed start.
        @usableFromInline var base = ClientResponse.Body.AsyncIterator(.done)
        @usableFromInline var started = false
        @usableFromInline let storage: Storage

        init(storage: Storage) {
            self.storage = storage
        }

        /// The next message; `nil` after the call ended with OK. Throws an `RPCError` otherwise. The first
        /// call waits for the response headers.
        public mutating func next() async throws -> Response? {
            if let ready = try nextIfReady() { return ready }
            return try await waitForNext()
        }

        /// The next message, as `next()`, on the caller's isolation (what `for try await` calls): a message
        /// already received is returned without suspending.
        ///
        /// Inlinable so that it is specialized for `Response` where it is called: generic values in an
        /// async function that is not specialized live in task allocations, two per message here.
        @inlinable
        public mutating func next(isolation actor: isolated (any Actor)?) async throws -> Response? {
            if let ready = try nextIfReady() { return ready }
            return try await waitForNext()
        }

        /// The next message or the end (`.some(nil)`) when it is already there; `nil` when it must be
        /// waited for (also before the headers).
        ///
        /// Inlinable, as is `handle`, for the message path to be specialized too: unspecialized, each message
        /// looked up the metadata of `Response??` in the runtime's generic-metadata cache (a hash-table
        /// search each time; about 6% of a streaming client's CPU).
        @inlinable
        mutating func nextIfReady() throws -> Response?? {
            guard started else { return nil }
            while true {
                let poll: TransportResponseStream.Poll
                do {
                    poll = try base.nextIfReady()
                } catch {
                    throw bodyFailed(error)
                }
                guard case .part(let part) = poll else { return nil }
                if let result = try handle(part) { return result }
            }
        }

        /// Waits for the headers on the first call, then for the next message or the end. Inlinable as
        /// `nextIfReady` is: a wait unspecialized looked up three generic metadata.
        @inlinable
        mutating func waitForNext() async throws -> Response? {
            if !started {
                try await start()
                // The headers came with messages more often than not.
                if let ready = try nextIfReady() { return ready }
            }
            while true {
                let part: ClientResponsePart?
                do {
                    part = try await base.nextPart()
                } catch {
                    throw bodyFailed(error)
                }
                if let result = try handle(part) { return result }
            }
        }

        /// Waits for the response headers; from then on `base` iterates the body.
        @usableFromInline
        mutating func start() async throws {
            started = true
            do {
                base = try await storage.call.response().body.makeAsyncIterator()
            } catch {
                let rpc = Storage.failure(error)
                storage.finish(trailers: rpc.metadata)
                throw rpc
            }
        }

        /// What a body part makes of the stream: a message, or the end (`.some(nil)`); `nil` for the
        /// trailers, after which the end follows.
        @inlinable
        func handle(_ part: ClientResponsePart?) throws -> Response?? {
            switch part {
            case .message(let bytes)?:
                do {
                    return .some(try storage.deserialize(bytes))
                } catch {
                    throw storage.deserializationFailed(error)
                }
            case .trailers(let trailers)?:
                storage.finish(trailers: trailers)
                return nil
            case nil:
                storage.finish(trailers: [:])
                return .some(nil)
            }
        }

        /// The body's failure as the stream throws it; the trailers are the error's metadata.
        @usableFromInline
        func bodyFailed(_ error: any Error) -> RPCError {
            let rpc = RPCError.wrapping(error, code: .unknown, message: "The response failed")
            storage.finish(trailers: rpc.metadata)
            return rpc
        }
    }

    /// Shared by the stream and its iterator; when the last one goes, cancels a call still waiting for its
    /// headers and closes the request side.
    @usableFromInline
    final class Storage: Sendable {
        let call: StreamingCall
        let requests: RequestMessages?
        @usableFromInline let deserialize: @Sendable ([UInt8]) throws -> Response
        let trailers: TSanMutex<Metadata?> = TSanMutex(nil)

        init(call: StreamingCall, requests: RequestMessages?, deserialize: @escaping @Sendable ([UInt8]) throws -> Response) {
            self.call = call
            self.requests = requests
            self.deserialize = deserialize
        }

        deinit {
            call.abandon()
            requests?.close()
        }

        @usableFromInline
        func finish(trailers: Metadata) {
            self.trailers.withLock { if $0 == nil { $0 = trailers } }
            requests?.close()
        }

        /// A response message that did not deserialize: the call is cancelled and ends with INTERNAL.
        @usableFromInline
        func deserializationFailed(_ error: any Error) -> RPCError {
            call.cancel()
            finish(trailers: [:])
            return RPCError(code: .internalError, message: "Failed to deserialize a response message", cause: error)
        }

        /// The error of a call that failed before its headers, as an `RPCError`.
        static func failure(_ error: any Error) -> RPCError {
            RPCError.wrapping(error, code: .unknown, message: "The call failed")
        }
    }
}
