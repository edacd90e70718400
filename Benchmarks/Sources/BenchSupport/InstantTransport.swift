import BreakwaterCore
import Synchronization

/// A client transport that answers every call at once, in the caller's task: the headers, the request's
/// own bytes as the one response message (an `EchoRequest` and an `EchoResponse` with the same text
/// serialize alike), and OK. No thread, no hop, no server: over it a call costs only the client's call
/// path, so the difference with and without the chain is the chain's own work, free of the scheduling
/// noise of a real transport. (A benchmark's yardstick, never a stand-in for a transport in tests.)
public struct InstantTransport: ClientTransport {
    public final class Stream: ClientTransportStream {
        private enum Phase { case sending, headers, message, end, done }
        private struct State {
            var phase = Phase.sending
            var request: [UInt8] = []
        }
        private let state = Mutex(State())

        public func send(_ message: [UInt8], endStream: Bool) async throws {
            state.withLock { state in
                state.request = message
                if endStream { state.phase = .headers }
            }
        }

        public func finishSending() {
            state.withLock { $0.phase = .headers }
        }

        public func next() async -> ClientStreamEvent? {
            take()
        }

        /// Everything is there at once, as a real transport's queue holds a response read in one turn.
        public func nextIfReady() -> ClientStreamPoll {
            .ready(take())
        }

        private func take() -> ClientStreamEvent? {
            state.withLock { state -> ClientStreamEvent? in
                switch state.phase {
                case .sending: return .end(ClientStreamEnd(status: Status(code: .internalError, message: "read before the request ended")))
                case .headers:
                    state.phase = .message
                    return .headers([:])
                case .message:
                    state.phase = .end
                    return .message(state.request)
                case .end:
                    state.phase = .done
                    return .end(ClientStreamEnd(status: .ok))
                case .done: return nil
                }
            }
        }

        public func cancel() {
            state.withLock { $0.phase = .done }
        }
    }

    public init() {}

    public func makeStream(head: ClientRequestHead) async -> any ClientTransportStream { Stream() }

    public func close() async {}
}
