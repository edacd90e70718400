import EchoService
import BreakwaterCore
import BreakwaterHTTP2

/// The 16-byte word every benchmark sends (the same as the C++ peer's and echo-bench's).
public let benchWord = "breakwater-bench"

/// The unary request text of `bytes` bytes: `benchWord` repeated and cut, byte for byte as echo_load.cc builds it.
public func unaryText(bytes: Int) -> String {
    let word = Array(benchWord.utf8)
    return String(decoding: (0..<max(0, bytes)).map { word[$0 % word.count] }, as: UTF8.self)
}

/// The server-streaming request text: `messages` copies of `benchWord` joined by single spaces.
public func expandText(messages: Int) -> String {
    Array(repeating: benchWord, count: messages).joined(separator: " ")
}

/// `host:port` (IPv6 in brackets) split, or nil when it is not of that form.
public func parseHostPort(_ target: String) -> (host: String, port: Int)? {
    guard let colon = target.lastIndex(of: ":"), let port = Int(target[target.index(after: colon)...]),
          (1...65535).contains(port) else { return nil }
    var host = String(target[..<colon])
    if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    return host.isEmpty ? nil : (host, port)
}

/// Calls `Get` until the server answers at all (any status but UNAVAILABLE or DEADLINE_EXCEEDED counts),
/// or until `within` passed. The transport connects lazily, so this is how a client waits for its
/// connection, as gRPC C++'s `WaitForConnected` does. Returns nil once connected, else the last error.
public func waitUntilConnected(_ echo: Echo_EchoClient, within: Duration = .seconds(5)) async -> RPCError? {
    let clock = ContinuousClock()
    let giveUp = clock.now + within
    let probe = Echo_EchoRequest.with { $0.text = benchWord }
    var lastError = RPCError(code: .deadlineExceeded, message: "no answer within \(within)")
    while clock.now < giveUp {
        do {
            _ = try await echo.get(probe, options: CallOptions(deadline: giveUp))
            return nil
        } catch let error as RPCError where error.code == .unavailable || error.code == .deadlineExceeded {
            lastError = error
            try? await Task.sleep(for: .milliseconds(20))
        } catch {
            return nil
        }
    }
    return lastError
}
