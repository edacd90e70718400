import BreakwaterCore
import BreakwaterWire
import Testing
@testable import BreakwaterHTTP2

/// The server stream's protocol rules as a value, without nghttp2 or a handler.
@Suite struct GRPCServerStreamMachineTests {
    static func feed(_ m: inout GRPCServerStreamMachine, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { m.receiveData($0) }
    }

    static func messages(_ m: inout GRPCServerStreamMachine) throws(RPCError) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var wire = 0
        while let message = try m.nextMessage(wireBytes: &wire) { out.append(message.payload) }
        return out
    }

    @Test func requestMessagesAcrossChunksThenTheEnd() throws {
        var m = GRPCServerStreamMachine(maxReceiveMessageBytes: 100, requestEncoding: .identity)
        let wire = MessageFramer.frame([1, 2, 3]) + MessageFramer.frame([4])
        let fed = Self.feed(&m, Array(wire[0..<4]))
        #expect(fed)
        let none = try Self.messages(&m)
        #expect(none.isEmpty)
        let fedMore = Self.feed(&m, Array(wire[4...]))
        #expect(fedMore)
        let two = try Self.messages(&m)
        #expect(two == [[1, 2, 3], [4]])
        guard case .endOfMessages = m.receiveEndOfStream() else {
            Issue.record("expected the end of the messages")
            return
        }
        #expect(m.requestEnded)
    }

    @Test func aTruncatedLastMessageEndsTheCall() {
        var m = GRPCServerStreamMachine(maxReceiveMessageBytes: 100, requestEncoding: .identity)
        _ = Self.feed(&m, Array(MessageFramer.frame([1, 2, 3]).prefix(6)))
        guard case .truncated(let status) = m.receiveEndOfStream() else {
            Issue.record("expected a truncated request")
            return
        }
        #expect(status.code == .internalError)
    }

    @Test func aMessageOverTheLimitOrCompressedWithoutEncodingIsAnError() {
        var big = GRPCServerStreamMachine(maxReceiveMessageBytes: 3, requestEncoding: .identity)
        _ = Self.feed(&big, MessageFramer.frame([1, 2, 3, 4]))
        #expect(throws: RPCError.self) { try Self.messages(&big) }
        var plain = GRPCServerStreamMachine(maxReceiveMessageBytes: 100, requestEncoding: .identity)
        _ = Self.feed(&plain, MessageFramer.frame([9], compressed: true))
        var wire = 0
        do {
            _ = try plain.nextMessage(wireBytes: &wire)
            Issue.record("a compressed message without an encoding was accepted")
        } catch {
            #expect(error.code == .internalError)
            #expect(wire == 6, "the rejected message's bytes are reported")
        }
    }

    @Test func anEndBeforeAnyHeadersIsTrailersOnly() {
        var m = GRPCServerStreamMachine(maxReceiveMessageBytes: 100, requestEncoding: .identity)
        guard case .trailersOnly(let fields) = m.finish(status: Status(code: .notFound, message: "no"), trailers: [:]) else {
            Issue.record("expected trailers-only")
            return
        }
        #expect(fields.contains { $0.name == ":status" })
        #expect(fields.contains { $0 == ("grpc-status", "5") })
        #expect(m.isFinished)
        let started = m.startResponse()
        #expect(!started, "nothing starts after the end")
        guard case .none = m.finish(status: .ok, trailers: [:]) else {
            Issue.record("a second end must do nothing")
            return
        }
    }

    @Test func headersOnceThenTrailersAfterTheMessages() {
        var m = GRPCServerStreamMachine(maxReceiveMessageBytes: 100, requestEncoding: .identity)
        let first = m.startResponse()
        let second = m.startResponse()
        #expect(first)
        #expect(!second, "headers go out once")
        #expect(m.acceptsMessages)
        guard case .trailersAfterMessages = m.finish(status: .ok, trailers: [:]) else {
            Issue.record("expected trailers after the messages")
            return
        }
        #expect(!m.acceptsMessages)
        guard case .ok? = m.takeTrailers() else {
            Issue.record("expected the connection's OK trailers")
            return
        }
        let again = m.takeTrailers()
        #expect(again == nil)
        // The request is still open: the client is told to stop sending after the trailers.
        #expect(m.resetsAfterTrailers)
    }

    @Test func afterTheResponseEndedDataIsDroppedAndTheEndIgnored() {
        var m = GRPCServerStreamMachine(maxReceiveMessageBytes: 100, requestEncoding: .identity)
        _ = m.finish(status: .ok, trailers: [:])
        let fed = Self.feed(&m, MessageFramer.frame([1]))
        #expect(!fed)
        guard case .ignored = m.receiveEndOfStream() else {
            Issue.record("expected the end to be ignored")
            return
        }
        #expect(!m.resetsAfterTrailers, "the request has ended: no reset needed")
    }

    @Test func aCloseBeforeTheEndTellsTheHandler() {
        var open = GRPCServerStreamMachine(maxReceiveMessageBytes: 100, requestEncoding: .identity)
        _ = open.startResponse()
        let running = open.streamClosed()
        #expect(running, "the handler was still running")
        #expect(open.isFinished)
        var done = GRPCServerStreamMachine(maxReceiveMessageBytes: 100, requestEncoding: .identity)
        _ = done.finish(status: .ok, trailers: [:])
        let stillRunning = done.streamClosed()
        #expect(!stillRunning, "the handler had finished")
    }
}
