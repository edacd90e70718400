import BreakwaterCore
import Synchronization

/// The `kv.KeyValue` service: an in-memory store. Only the handlers are written by hand; the protocol,
/// the client and the registration come from kv.proto at build time.
public final class KeyValueStore: Kv_KeyValue.SimpleServiceProtocol {
    private struct State {
        var values: [String: String] = [:]
        var watchers: [Int: (key: String, continuation: AsyncStream<Kv_Entry>.Continuation)] = [:]
        var nextWatcher = 0
    }

    private let state = Mutex(State())

    public init() {}

    public func get(request: Kv_GetRequest, context: ServerContext) async throws -> Kv_Entry {
        guard let value = state.withLock({ $0.values[request.key] }) else {
            throw RPCError(code: .notFound, message: "no value for \(request.key)")
        }
        return .with {
            $0.key = request.key
            $0.value = value
        }
    }

    public func put(request: Kv_Entry, context: ServerContext) async throws -> Kv_PutResponse {
        store(request)
        return .with { $0.count = 1 }
    }

    public func watch(
        request: Kv_GetRequest, response: ResponseWriter<Kv_Entry>, context: ServerContext
    ) async throws {
        let (changes, continuation) = AsyncStream.makeStream(of: Kv_Entry.self)
        let id = state.withLock { s in
            defer { s.nextWatcher += 1 }
            s.watchers[s.nextWatcher] = (request.key, continuation)
            return s.nextWatcher
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { _ = $0.watchers.removeValue(forKey: id) }
        }
        // Headers now, not with the first change: they tell a client awaiting `metadata` that its watch is
        // registered, so a put it makes next is seen.
        try await context.sendHeaders()
        for await change in changes { try await response.write(change) }
    }

    public func putMany(requests: RequestStream<Kv_Entry>, context: ServerContext) async throws -> Kv_PutResponse {
        var count: Int32 = 0
        for try await entry in requests {
            store(entry)
            count += 1
        }
        return .with { $0.count = count }
    }

    private func store(_ entry: Kv_Entry) {
        state.withLock { s in
            s.values[entry.key] = entry.value
            for watcher in s.watchers.values where watcher.key == entry.key {
                watcher.continuation.yield(entry)
            }
        }
    }
}
