extension RPCError {
    /// `error` itself when it is an `RPCError`; CANCELLED for a `CancellationError`; otherwise a new
    /// error with `code` and `message` and `error` as its cause.
    static func wrapping(_ error: any Error, code: Status.Code, message: String) -> RPCError {
        if let rpc = error as? RPCError { return rpc }
        if error is CancellationError { return RPCError(code: .cancelled, message: "The call was cancelled") }
        return RPCError(code: code, message: message, cause: error)
    }
}
