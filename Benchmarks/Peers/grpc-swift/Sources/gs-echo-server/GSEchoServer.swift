// grpc-swift 2 peer: echo.Echo (Protos/echo.proto) over the HTTP/2 NIO Posix transport, plaintext.
// Usage: gs-echo-server [--host H] [--port N] [--no-flush-coalescing]
//   port 0 picks one; prints "PORT <n>" on stdout (flushed) once listening.
//   --no-flush-coalescing turns off the transport's write coalescing (on by default in grpc-swift 2).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

import GRPCCore
import GRPCNIOTransportHTTP2Posix

/// Writes to file descriptor 2 (the C `stderr` global is not concurrency-safe in Swift 6).
func printError(_ text: String) {
  var text = text
  text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}

@main
struct GSEchoServer {
  static func usage() -> Never {
    printError("usage: gs-echo-server [--host H] [--port N] [--no-flush-coalescing]\n")
    exit(2)
  }

  static func main() async throws {
    var host = "127.0.0.1"
    var port = 50051
    var coalesce = true
    var args = CommandLine.arguments.dropFirst()
    while let arg = args.popFirst() {
      switch arg {
      case "--host":
        guard let value = args.popFirst() else { usage() }
        host = value
      case "--port":
        guard let value = args.popFirst(), let n = Int(value), (0...65535).contains(n) else { usage() }
        port = n
      case "--no-flush-coalescing":
        coalesce = false
      default:
        usage()
      }
    }

    var config = HTTP2ServerTransport.Posix.Config.defaults
    if !coalesce { config.connection.flushCoalescing = nil }
    let address: GRPCNIOTransportHTTP2Posix.SocketAddress =
      host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port)
    let server = GRPCServer(
      transport: .http2NIOPosix(address: address, transportSecurity: .plaintext, config: config),
      services: [EchoService()]
    )

    try await withThrowingDiscardingTaskGroup { group in
      group.addTask { try await server.serve() }
      let bound: Int?
      do {
        let listening = try await server.listeningAddress
        bound = listening?.ipv4?.port ?? listening?.ipv6?.port
      } catch {
        bound = nil
      }
      guard let bound else {
        printError("gs-echo-server: cannot listen on \(host):\(port)\n")
        exit(1)
      }
      print("PORT \(bound)")
      fflush(nil)  // all streams: the C `stdout` global is not concurrency-safe in Swift 6
    }
  }
}
