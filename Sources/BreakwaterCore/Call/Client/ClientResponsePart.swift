/// One part of a response body after the response headers.
public enum ClientResponsePart: Sendable, Hashable {
    /// One serialized response message.
    case message([UInt8])
    /// The trailing metadata of a call that ended with status OK; always the last part.
    case trailers(Metadata)
}
