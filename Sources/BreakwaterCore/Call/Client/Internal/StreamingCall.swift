/// The response of a server- or bidirectional-streaming call as its `ResponseStream` waits for it.
///
/// `GRPCClient` starts the call's interceptor chain (`execute`, which returns at the response headers) in a
/// task of its own and returns the stream at once, as grpc-go's `NewStream` and grpc-java's
/// `ClientCall.start` do: most servers send their headers only with their first response message, so a
/// quiet stream (a watch with nothing to report yet) would otherwise block its caller until its deadline.
/// The stream's first `next()` and its `metadata` await that task.
///
/// The task holds no reference to the stream's storage, so dropping the stream can cancel it (its
/// storage's `deinit` calls ``abandon()``). State is under a `TSanMutex`.
final class StreamingCall: Sendable {
    private enum Source: Sendable {
        /// A response already there (`ResponseStream(response:deserializer:)`).
        case ready(ClientResponse)
        /// The call's chain, running until the headers arrive; its outcome goes to the `Outcome`.
        case running(Task<Void, Never>, Outcome)
    }

    /// What the call's task, its stream and `cancel()` share: how the chain ended, and whether the call
    /// was cancelled. The task keeps no result of its own, so releasing the response here (``abandon()``)
    /// releases its last reference at once, and its body's `deinit` cancels the transport stream then,
    /// not whenever the finished task happens to be freed.
    final class Outcome: Sendable {
        private struct State {
            var result: Result<ClientResponse, any Error>?
            var cancelled = false
        }

        private let state = TSanMutex(State())

        /// Records how the chain ended; false when the call was cancelled meanwhile (the caller then
        /// cancels the body it got).
        func record(_ result: Result<ClientResponse, any Error>) -> Bool {
            state.withLock { state in
                if state.cancelled, case .success = result { return false }
                state.result = result
                return true
            }
        }

        /// The chain's result, once the task ended.
        var result: Result<ClientResponse, any Error>? { state.withLock { $0.result } }

        /// Marks the call cancelled; returns the body when the headers had already arrived. With
        /// `release`, also lets go of the response.
        func cancel(release: Bool) -> ClientResponse.Body? {
            state.withLock { state in
                state.cancelled = true
                let body = try? state.result?.get().body
                if release { state.result = nil }
                return body
            }
        }
    }

    private let source: Source

    /// A call whose response is already there.
    init(response: ClientResponse) {
        source = .ready(response)
    }

    /// Starts `run` (the call's interceptor chain) in a task of its own. `onFailure` runs when it throws
    /// (the bidirectional call closes its request producer there, so it stops at once).
    init(
        run: @escaping @Sendable () async throws -> ClientResponse,
        onFailure: @escaping @Sendable () -> Void = {}
    ) {
        let outcome = Outcome()
        let task = Task {
            do {
                let response = try await run()
                if !outcome.record(.success(response)) { response.body.cancel() }
            } catch {
                onFailure()
                _ = outcome.record(.failure(error))
            }
        }
        // A call started by a cancelled task is cancelled, as `execute` would have been in that task.
        if Task.isCancelled { task.cancel() }
        source = .running(task, outcome)
    }

    /// The response, once its headers arrived; throws the call's error when it failed before them.
    /// Cancelling the waiting task cancels the call.
    func response() async throws -> ClientResponse {
        switch source {
        case .ready(let response):
            return response
        case .running(let task, let outcome):
            await withTaskCancellationHandler {
                await task.value
            } onCancel: {
                task.cancel()
            }
            // The task records a result before it ends; `nil` only after `abandon()`, which runs once no
            // stream or iterator is left to call this.
            guard let result = outcome.result else {
                throw RPCError(code: .cancelled, message: "The call was cancelled")
            }
            return try result.get()
        }
    }

    /// Cancels the call: before the headers its task (the chain ends with CANCELLED), after them its body.
    func cancel() {
        switch source {
        case .ready(let response):
            response.body.cancel()
        case .running(let task, let outcome):
            let body = outcome.cancel(release: false)
            task.cancel()
            body?.cancel()
        }
    }

    /// The stream and its iterators are gone: cancels a call still waiting for its headers, and lets go
    /// of a response that arrived, whose body then cancels its transport stream if it had not ended.
    func abandon() {
        if case .running(let task, let outcome) = source {
            _ = outcome.cancel(release: true)
            task.cancel()
        }
    }
}
