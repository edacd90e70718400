// MessageDeframer fed a byte stream in arbitrary chunks, checked against a straightforward
// reference parse of the whole stream.
//
// Input: 2 bytes max message size (a 0x8000 bit selects the 4 MiB default instead), 2 bytes chunking
// seed, then the stream. Properties: the messages come out in order and equal the reference's,
// whatever the chunking and whichever `append` is used; no payload is over the limit; an over-limit
// length or a bad flag is reported as soon as its prefix is complete, and then the same error
// again; `bufferedBytes` and `hasPartialMessage` agree with what is left.
import BreakwaterCore
import BreakwaterWire
import FuzzSupport

private struct Reference {
    var frames: [MessageDeframer.Frame] = []
    var error: MessageDeframer.Error?
    /// Where the message after the last whole one starts (or where the bad prefix starts).
    var consumed = 0
    /// Stream length at which `error` becomes visible (its prefix complete).
    var errorAt = 0

    init(_ stream: [UInt8], max: Int) {
        var i = 0
        while stream.count - i >= 5 {
            let flag = stream[i]
            let length = Int(stream[i + 1]) << 24 | Int(stream[i + 2]) << 16 | Int(stream[i + 3]) << 8 | Int(stream[i + 4])
            if flag > 1 {
                error = .invalidCompressedFlag(flag)
                errorAt = i + 5
                break
            }
            if length > max {
                error = .messageTooLarge(length: length, limit: max)
                errorAt = i + 5
                break
            }
            guard stream.count - i - 5 >= length else { break }
            frames.append(.init(compressed: flag == 1, payload: Array(stream[i + 5..<i + 5 + length])))
            i += 5 + length
        }
        consumed = i
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    var reader = FuzzReader(fuzzBytes(data, count))
    let sizeField = reader.uint16()
    let max = sizeField & 0x8000 != 0 ? 4 * 1024 * 1024 : Int(sizeField & 0x7FFF)
    var random = SplitMix(seed: UInt64(reader.uint16()))
    let stream = reader.rest()
    let reference = Reference(stream, max: max)

    var deframer = MessageDeframer(maxMessageBytes: max)
    check(deframer.maxMessageBytes == max, "maxMessageBytes")
    var received: [MessageDeframer.Frame] = []
    var thrown: MessageDeframer.Error?
    var fed = 0

    func take(_ deframer: inout MessageDeframer, all: Bool) {
        var budget = all ? Int.max : Int(random.next() % 3)
        while budget > 0, thrown == nil {
            budget -= 1
            do {
                guard let frame = try deframer.next() else { break }
                check(frame.payload.count <= max, "payload of \(frame.payload.count) over max \(max)")
                received.append(frame)
            } catch {
                thrown = error
            }
        }
    }

    while fed < stream.count && thrown == nil {
        // Mostly small chunks, sometimes empty ones, sometimes large ones.
        let pick = random.next() % 8
        let size = pick == 0 ? 0 : pick < 6 ? Int(random.next() % 8) + 1 : Int(random.next() % 512) + 1
        let end = min(fed + size, stream.count)
        if random.next() & 1 == 0 {
            deframer.append(stream[fed..<end])
        } else {
            stream[fed..<end].withUnsafeBytes { deframer.append($0) }
        }
        fed = end
        // Sometimes drain everything now: then the error, if its prefix is in, must show.
        let drain = random.next() % 4 == 0
        take(&deframer, all: drain)
        if drain, thrown == nil, reference.error != nil {
            check(fed < reference.errorAt, "error \(reference.error!) not reported with \(fed) bytes in (due at \(reference.errorAt))")
        }
    }
    take(&deframer, all: true)

    check(received.count <= reference.frames.count, "more frames than the reference")
    check(Array(reference.frames.prefix(received.count)) == received, "frames differ from the reference")
    if let error = reference.error {
        check(thrown == error, "threw \(String(describing: thrown)), expected \(error)")
        check(received == reference.frames, "frames before the error differ")
        // The stream must end; asking again must not hand out bytes of the bad message.
        do {
            _ = try deframer.next()
            check(false, "next() after \(error) returned instead of throwing")
        } catch {
            check(error == reference.error, "a second next() threw \(error)")
        }
        _ = error.status
    } else {
        check(thrown == nil, "unexpected error \(thrown!)")
        check(received == reference.frames, "frames differ: \(received.count) vs \(reference.frames.count)")
        check(deframer.bufferedBytes == stream.count - reference.consumed,
              "bufferedBytes \(deframer.bufferedBytes), expected \(stream.count - reference.consumed)")
        check(deframer.hasPartialMessage == (reference.consumed < stream.count), "hasPartialMessage")
        // The deframer keeps working after everything so far was taken.
        let frame = MessageFramer.frame([1, 2, 3], compressed: true)
        if reference.consumed == stream.count, max >= 3 {
            deframer.append(frame)
            let next = try? deframer.next()
            check(next == .init(compressed: true, payload: [1, 2, 3]), "a message after the stream was not deframed")
            check(deframer.bufferedBytes == 0, "bytes left after the extra message")
        }
    }
    return 0
}
