import EchoPeer
import GRPCCore

/// echo.Echo with the same semantics as Breakwater's EchoProvider and the C++ peer (echo_server.cc).
struct EchoService: Echo_Echo.SimpleServiceProtocol {
  /// Returns the text unchanged.
  func get(request: Echo_EchoRequest, context: ServerContext) async throws -> Echo_EchoResponse {
    var response = Echo_EchoResponse()
    response.text = request.text
    return response
  }

  /// Splits the text on single spaces (empty words kept), one response per word.
  func expand(
    request: Echo_EchoRequest,
    response: RPCWriter<Echo_EchoResponse>,
    context: ServerContext
  ) async throws {
    let words = request.text.split(separator: " ", omittingEmptySubsequences: false)
    try await response.write(
      contentsOf: words.map { word in
        var message = Echo_EchoResponse()
        message.text = String(word)
        return message
      }
    )
  }

  /// Joins the texts received with single spaces.
  func collect(
    request: RPCAsyncSequence<Echo_EchoRequest, any Error>,
    context: ServerContext
  ) async throws -> Echo_EchoResponse {
    var joined = ""
    var first = true
    for try await message in request {
      if !first { joined.append(" ") }
      first = false
      joined.append(message.text)
    }
    var response = Echo_EchoResponse()
    response.text = joined
    return response
  }

  /// Echoes each message as it arrives.
  func update(
    request: RPCAsyncSequence<Echo_EchoRequest, any Error>,
    response: RPCWriter<Echo_EchoResponse>,
    context: ServerContext
  ) async throws {
    for try await message in request {
      var reply = Echo_EchoResponse()
      reply.text = message.text
      try await response.write(reply)
    }
  }
}
