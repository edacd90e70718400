import BreakwaterCore

/// A response body that passes every part through and reports how it ended to a ``BodyEndSignal``.
struct ObservedBody: AsyncSequence, Sendable {
    typealias Element = ClientResponsePart
    typealias Failure = any Error

    let base: ClientResponse.Body
    let signal: BodyEndSignal

    func makeAsyncIterator() -> Iterator {
        Iterator(base: base.makeAsyncIterator(), signal: signal)
    }

    struct Iterator: AsyncIteratorProtocol {
        var base: ClientResponse.Body.AsyncIterator
        let signal: BodyEndSignal

        mutating func next() async throws -> ClientResponsePart? {
            let part: ClientResponsePart?
            do {
                part = try await base.next()
            } catch {
                signal.fire(.error(error))
                throw error
            }
            switch part {
            case .trailers(let trailers)?: signal.fire(.trailers(trailers))
            case nil: signal.fire(.abandoned)
            case .message?: break
            }
            return part
        }
    }
}

extension ClientResponse.Body {
    /// This body, calling `onEnd` once when it ends: with the trailers, the error its iterator threw,
    /// or ``BodyEnd/abandoned`` when it is dropped (or cancelled and dropped) before either.
    func observingEnd(_ onEnd: @escaping @Sendable (BodyEnd) -> Void) -> ClientResponse.Body {
        let base = self
        return ClientResponse.Body(ObservedBody(base: base, signal: BodyEndSignal(onEnd)), onCancel: { base.cancel() })
    }
}
