import BreakwaterCore
import BreakwaterHTTP2
import KeyValue

// Serve kv.KeyValue on a free loopback port and call it with the generated client.
let server = GRPCServer(transport: HTTP2ServerTransport(host: "127.0.0.1", port: 0), services: [KeyValueStore()])
let port = try await server.start()
let grpc = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: port))
let kv = Kv_KeyValue.Client(wrapping: grpc)

_ = try await kv.put(.with { $0.key = "greeting"; $0.value = "hello" })
print("get greeting:", try await kv.get(.with { $0.key = "greeting" }).value)

// The watch returns at once; its headers say the store registered it (it sends them then), so the puts
// below are all seen.
let changes = try await kv.watch(.with { $0.key = "counter" })
_ = try await changes.metadata
let stored = try await kv.putMany { writer in
    for n in 1...3 { try await writer.write(.with { $0.key = "counter"; $0.value = String(n) }) }
}
print("put many:", stored.count)
var seen: [String] = []
for try await change in changes {
    seen.append(change.value)
    if seen.count == 3 { changes.cancel(); break }
}
print("watched counter:", seen.joined(separator: " "))

do {
    _ = try await kv.get(.with { $0.key = "missing" })
} catch let error as RPCError {
    print("get missing:", error.code)
}

await grpc.close()
await server.shutdownGracefully(gracePeriod: .seconds(1))
