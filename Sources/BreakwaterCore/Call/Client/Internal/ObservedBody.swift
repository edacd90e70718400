/// A response body that passes every part through and reports how it ended to a ``BodyEndSignal``:
/// how ``ClientResponse/Body/notifying(_:)`` observes bodies that do not come from the transport.
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
