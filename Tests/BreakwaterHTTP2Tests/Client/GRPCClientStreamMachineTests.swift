import BreakwaterCore
import BreakwaterWire
import Testing
@testable import BreakwaterHTTP2

@Suite struct GRPCClientStreamMachineTests {
    static let okHeaders: [HeaderField] = [(":status", "200"), ("content-type", "application/grpc")]

    static func feed(_ machine: inout GRPCClientStreamMachine, _ bytes: [UInt8]) -> GRPCClientStreamMachine.Outputs {
        bytes.withUnsafeBytes { machine.receiveData($0) }
    }

    static func endStatus(_ outputs: GRPCClientStreamMachine.Outputs) -> Status? {
        for case .end(let end, _) in outputs { return end.status }
        return nil
    }

    @Test func headersMessagesTrailersInOrder() {
        var m = GRPCClientStreamMachine(maxReceiveMessageBytes: 100)
        let h = m.receiveHeaderBlock(Self.okHeaders + [("x-a", "1")], endStream: false)
        guard case .headers(let md) = h.first else { Issue.record("no headers"); return }
        #expect(md.firstString(forKey: "x-a") == "1")
        // Two messages split across chunks.
        let wire = MessageFramer.frame([1, 2, 3]) + MessageFramer.frame([4])
        var messages: [[UInt8]] = []
        for chunk in [Array(wire[0..<2]), Array(wire[2..<9]), Array(wire[9...])] {
            for case .message(let message) in Self.feed(&m, chunk) {
                messages.append(message.payload)
                #expect(!message.compressed)
                #expect(message.wireBytes == 5 + message.payload.count)
            }
        }
        #expect(messages == [[1, 2, 3], [4]])
        let t = m.receiveHeaderBlock([("grpc-status", "0"), ("x-t", "2")], endStream: true)
        guard case .end(let end, let reset) = t.first else { Issue.record("no end"); return }
        #expect(end.status.code == .ok)
        #expect(end.trailers.firstString(forKey: "x-t") == "2")
        #expect(reset == nil)
        #expect(m.isEnded)
        #expect(m.receiveHeaderBlock([("grpc-status", "0")], endStream: true).isEmpty)
    }

    @Test func trailersOnly() {
        var m = GRPCClientStreamMachine(maxReceiveMessageBytes: 100)
        let out = m.receiveHeaderBlock(Self.okHeaders + [("grpc-status", "5"), ("grpc-message", "gone%20away")], endStream: true)
        #expect(Self.endStatus(out) == Status(code: .notFound, message: "gone away"))
    }

    @Test func httpErrorIsSynthesized() {
        var m = GRPCClientStreamMachine(maxReceiveMessageBytes: 100)
        let out = m.receiveHeaderBlock([(":status", "503")], endStream: true)
        #expect(Self.endStatus(out)?.code == .unavailable)
    }

    @Test func messageOverLimitResets() {
        var m = GRPCClientStreamMachine(maxReceiveMessageBytes: 3)
        _ = m.receiveHeaderBlock(Self.okHeaders, endStream: false)
        let out = Self.feed(&m, MessageFramer.frame([1, 2, 3, 4]))
        guard case .end(let end, let reset) = out.last else { Issue.record("no end"); return }
        #expect(end.status.code == .resourceExhausted)
        #expect(reset == StatusMapping.HTTP2ErrorCode.cancel.rawValue)
    }

    @Test func partialMessageAtTrailersIsInternal() {
        var m = GRPCClientStreamMachine(maxReceiveMessageBytes: 100)
        _ = m.receiveHeaderBlock(Self.okHeaders, endStream: false)
        _ = Self.feed(&m, Array(MessageFramer.frame([1, 2, 3]).prefix(6)))
        #expect(Self.endStatus(m.receiveHeaderBlock([("grpc-status", "0")], endStream: true))?.code == .internalError)
    }

    @Test func endWithoutTrailersAndMissingStatus() {
        var m = GRPCClientStreamMachine(maxReceiveMessageBytes: 100)
        _ = m.receiveHeaderBlock(Self.okHeaders, endStream: false)
        #expect(Self.endStatus(m.receiveEndOfStream())?.code == .internalError)
        var n = GRPCClientStreamMachine(maxReceiveMessageBytes: 100)
        _ = n.receiveHeaderBlock(Self.okHeaders, endStream: false)
        #expect(Self.endStatus(n.receiveHeaderBlock([("x", "y")], endStream: true))?.code == .unknown)
    }

    @Test func compressedMessages() throws {
        var m = GRPCClientStreamMachine(maxReceiveMessageBytes: 1000)
        _ = m.receiveHeaderBlock(Self.okHeaders + [("grpc-encoding", "gzip")], endStream: false)
        let payload = [UInt8](repeating: 9, count: 500)
        let compressed = try MessageCompression.compress(payload, using: .gzip)
        let out = Self.feed(&m, MessageFramer.frame(compressed, compressed: true))
        // The machine hands the message on as it was on the wire; the reader inflates it.
        guard case .message(let message) = out.first else { Issue.record("no message"); return }
        #expect(message.compressed)
        #expect(message.payload == compressed)
        #expect(message.wireBytes == 5 + compressed.count)
        #expect(m.encoding == .gzip)
        #expect(try message.decoded(using: m.encoding, limit: 1000) == payload)
        #expect(throws: RPCError.self) { try message.decoded(using: m.encoding, limit: 499) }
        // A compressed flag without an encoding is a protocol error.
        var plain = GRPCClientStreamMachine(maxReceiveMessageBytes: 1000)
        _ = plain.receiveHeaderBlock(Self.okHeaders, endStream: false)
        #expect(Self.endStatus(Self.feed(&plain, MessageFramer.frame(compressed, compressed: true)))?.code == .internalError)
    }

    @Test func resetCodesMapToStatuses() {
        var refused = GRPCClientStreamMachine(maxReceiveMessageBytes: 100)
        let out = refused.streamClosed(errorCode: StatusMapping.HTTP2ErrorCode.refusedStream.rawValue, requestSent: true)
        guard case .end(let end, _) = out.first else { Issue.record("no end"); return }
        #expect(end.status.code == .unavailable)
        #expect(end.neverReachedServer)
        var cancelled = GRPCClientStreamMachine(maxReceiveMessageBytes: 100)
        #expect(Self.endStatus(cancelled.streamClosed(errorCode: 8, requestSent: true))?.code == .cancelled)
        var failed = GRPCClientStreamMachine(maxReceiveMessageBytes: 100)
        #expect(failed.fail(Status(code: .deadlineExceeded)) != nil)
        #expect(failed.fail(Status(code: .cancelled)) == nil)
    }

    @Test func dataBeforeHeadersIsProtocolError() {
        var m = GRPCClientStreamMachine(maxReceiveMessageBytes: 100)
        #expect(Self.endStatus(Self.feed(&m, MessageFramer.frame([1])))?.code == .internalError)
    }
}
