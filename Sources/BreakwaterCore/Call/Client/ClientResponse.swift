/// The response side of a client call as interceptors see it: the response headers and a body.
public struct ClientResponse: Sendable {
    /// The response headers' custom metadata; empty for a trailers-only response.
    public var metadata: Metadata
    /// The response messages followed by the trailers. When the call's status is not OK, the body's
    /// iterator throws an `RPCError` carrying the code, message and trailers instead of the trailers part.
    public var body: Body

    /// Creates a response.
    public init(metadata: Metadata = [:], body: Body) {
        self.metadata = metadata
        self.body = body
    }

    /// A response with fixed messages that ends with status OK and `trailers`; useful for fallbacks
    /// and tests.
    public init(metadata: Metadata = [:], messages: [[UInt8]], trailers: Metadata = [:]) {
        self.metadata = metadata
        self.body = Body(parts: messages.map { .message($0) } + [.trailers(trailers)])
    }

    /// The body of a response: an asynchronous sequence of `ClientResponsePart`, iterated once.
    public struct Body: AsyncSequence, Sendable {
        /// A message or the trailers.
        public typealias Element = ClientResponsePart
        /// An `RPCError` for a non-OK status.
        public typealias Failure = any Error

        enum Source: Sendable {
            case transport(TransportResponseStream)
            case parts([ClientResponsePart], (any Error)?)
            case custom(@Sendable () -> AnyResponsePartIterator, onCancel: @Sendable () -> Void)
        }

        let source: Source

        init(transport: TransportResponseStream) {
            source = .transport(transport)
        }

        /// A body yielding `parts` and then, if given, throwing `error`.
        public init(parts: [ClientResponsePart], error: (any Error)? = nil) {
            source = .parts(parts, error)
        }

        /// A body backed by another sequence, for interceptors that transform a response.
        /// `onCancel` runs when the body is cancelled (for example to cancel the wrapped body).
        public init<Parts: AsyncSequence & Sendable>(
            _ parts: Parts,
            onCancel: @escaping @Sendable () -> Void = {}
        ) where Parts.Element == ClientResponsePart {
            source = .custom({ AnyResponsePartIterator(parts.makeAsyncIterator()) }, onCancel: onCancel)
        }

        /// Cancels the call's stream, if the body comes from a transport (or runs the `onCancel` given
        /// to a custom body). Iteration then ends with CANCELLED unless the call had already ended.
        public func cancel() {
            switch source {
            case .transport(let stream): stream.cancel()
            case .parts: break
            case .custom(_, let onCancel): onCancel()
            }
        }

        /// Starts iterating. A transport body can be iterated once.
        public func makeAsyncIterator() -> AsyncIterator {
            switch source {
            case .transport(let stream): AsyncIterator(.transport(stream))
            case .parts(let parts, let error): AsyncIterator(.parts(parts, 0, error))
            case .custom(let make, _): AsyncIterator(.custom(make()))
            }
        }

        /// Iterates a body.
        public struct AsyncIterator: AsyncIteratorProtocol {
            enum State {
                case transport(TransportResponseStream)
                case parts([ClientResponsePart], Int, (any Error)?)
                case custom(AnyResponsePartIterator)
                case done
            }

            var state: State

            init(_ state: State) { self.state = state }

            /// The next part; `nil` after the trailers. Throws an `RPCError` for a non-OK status.
            public mutating func next() async throws -> ClientResponsePart? {
                if case .part(let part) = try nextIfReady() { return part }
                return try await nextPart()
            }

            /// The next part, as `next()`, on the caller's isolation (what `for try await` calls): a part
            /// already received is returned without suspending.
            public mutating func next(isolation actor: isolated (any Actor)?) async throws -> ClientResponsePart? {
                if case .part(let part) = try nextIfReady() { return part }
                return try await nextPart()
            }

            /// `next()` without the poll: for a reader that polled first (`nextIfReady`) and must wait.
            /// (Not `nonisolated(nonsending)`, which would spare a switch on the wait, so that Swift 6.0
            /// and 6.1 still build the package.)
            @usableFromInline
            mutating func nextPart() async throws -> ClientResponsePart? {
                switch state {
                case .transport(let stream):
                    return try await stream.nextPart()
                case .custom(let iterator):
                    return try await iterator.next()
                case .parts, .done:
                    return try nextFixedPart()
                }
            }

            /// The next part if it is already there, without suspending (`.notReady`: call `nextPart`).
            @usableFromInline
            mutating func nextIfReady() throws -> TransportResponseStream.Poll {
                switch state {
                case .transport(let stream):
                    return try stream.nextPartIfReady()
                case .custom:
                    return .notReady
                case .parts, .done:
                    return .part(try nextFixedPart())
                }
            }

            /// The next part of a body of fixed parts (or of one that is done).
            private mutating func nextFixedPart() throws -> ClientResponsePart? {
                guard case .parts(let parts, let index, let error) = state else { return nil }
                if index < parts.count {
                    state = .parts(parts, index + 1, error)
                    return parts[index]
                }
                state = .done
                if let error { throw error }
                return nil
            }
        }
    }
}
