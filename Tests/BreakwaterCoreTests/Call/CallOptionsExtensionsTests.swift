import BreakwaterCore
import BreakwaterTestSupport
import Testing

/// Two keys with the same value type, to show the key is the type, not the value's type.
private enum TenantKey: CallOptions.ExtensionKey { typealias Value = String }
private enum RegionKey: CallOptions.ExtensionKey { typealias Value = String }
private enum WeightKey: CallOptions.ExtensionKey { typealias Value = Int }

@Suite("CallOptions extensions: typed values keyed by a type")
struct CallOptionsExtensionsTests {
    @Test("a value is read back under its key only; setting nil removes it")
    func setGetRemove() {
        var options = CallOptions()
        #expect(options.extensions.isEmpty)
        #expect(options.extensions[TenantKey.self] == nil)
        options.extensions[TenantKey.self] = "blue"
        options.extensions[WeightKey.self] = 3
        #expect(options.extensions[TenantKey.self] == "blue")
        #expect(options.extensions[RegionKey.self] == nil)
        #expect(options.extensions[WeightKey.self] == 3)
        options.extensions[TenantKey.self] = nil
        options.extensions[WeightKey.self] = nil
        #expect(options.extensions[TenantKey.self] == nil)
        #expect(options.extensions.isEmpty)
    }

    @Test("options are equal, and hash alike, when their extensions hold equal values under the same keys")
    func equalityAndHashing() {
        var a = CallOptions(timeout: .seconds(1))
        a.extensions[TenantKey.self] = "blue"
        a.extensions[WeightKey.self] = 3
        var b = CallOptions(timeout: .seconds(1))
        b.extensions[WeightKey.self] = 3
        b.extensions[TenantKey.self] = "blue"
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(Set([a, b]).count == 1)

        var otherValue = b
        otherValue.extensions[TenantKey.self] = "green"
        #expect(a != otherValue)
        var otherKey = CallOptions(timeout: .seconds(1))
        otherKey.extensions[RegionKey.self] = "blue"
        otherKey.extensions[WeightKey.self] = 3
        #expect(a != otherKey)
        #expect(CallOptions(timeout: .seconds(1)) != a)
        #expect(CallOptions() == CallOptions.defaults)
    }

    @Test("merging over defaults: the call's keys keep their values, the others come from the defaults")
    func mergedOverDefaults() {
        var own = CallOptions.Extensions()
        own[TenantKey.self] = "call"
        var defaults = CallOptions.Extensions()
        defaults[TenantKey.self] = "client"
        defaults[WeightKey.self] = 7
        let merged = own.merged(over: defaults)
        #expect(merged[TenantKey.self] == "call")
        #expect(merged[WeightKey.self] == 7)
        #expect(CallOptions.Extensions().merged(over: defaults) == defaults)
        #expect(own.merged(over: CallOptions.Extensions()) == own)
        #expect(CallOptions.Extensions().merged(over: CallOptions.Extensions()).isEmpty)
    }

    @Test("GRPCClient.resolvedOptions merges a call's extensions over the client's default ones")
    func resolvedOptionsMerge() async throws {
        var defaults = CallOptions(timeout: .seconds(5))
        defaults.extensions[TenantKey.self] = "client"
        defaults.extensions[WeightKey.self] = 7
        let client = GRPCClient(transport: InProcessTransport().client, defaultOptions: defaults)
        var own = CallOptions()
        own.extensions[TenantKey.self] = "call"
        let resolved = client.resolvedOptions(own)
        #expect(resolved.timeout == .seconds(5))
        #expect(resolved.extensions[TenantKey.self] == "call")
        #expect(resolved.extensions[WeightKey.self] == 7)
        #expect(client.resolvedOptions(CallOptions()).extensions == defaults.extensions)
        await client.close()
    }

    @Test("resolvedOptions takes every unset field from the defaults, and with defaults that set nothing returns the call's options")
    func resolvedOptionsEveryField() async throws {
        let deadline = ContinuousClock.now.advanced(by: .seconds(9))
        var defaults = CallOptions(
            timeout: .seconds(5), deadline: deadline, maxReceiveMessageBytes: 10, maxSendMessageBytes: 20,
            compression: .gzip, deadlinePropagation: .off, waitForReady: true, isProbe: false)
        defaults.extensions[WeightKey.self] = 7
        let client = GRPCClient(transport: InProcessTransport().client, defaultOptions: defaults)
        #expect(client.resolvedOptions(CallOptions()) == defaults)
        var own = CallOptions(
            timeout: .seconds(1), deadline: deadline.advanced(by: .seconds(-1)), maxReceiveMessageBytes: 1,
            maxSendMessageBytes: 2, compression: .identity, deadlinePropagation: .inherit, waitForReady: false, isProbe: true)
        own.extensions[WeightKey.self] = 3
        #expect(client.resolvedOptions(own) == own)
        let bare = GRPCClient(transport: InProcessTransport().client)
        #expect(bare.resolvedOptions(own) == own)
        #expect(bare.resolvedOptions(CallOptions()) == CallOptions())
        await client.close()
        await bare.close()
    }

    @Test("an interceptor sees the call's extension values in its context")
    func interceptorSeesExtensions() async throws {
        let seen = Log()
        let interceptor = ExtensionReader(seen: seen)
        try await withClientAndServer(clientInterceptors: [.apply(interceptor, to: .all)]) { client, _ in
            var options = CallOptions()
            options.extensions[TenantKey.self] = "blue"
            _ = try await client.unaryString("a", options: options)
            _ = try await client.unaryString("b")
        }
        #expect(seen.all == ["blue", "(none)"])
    }
}

/// Records the tenant extension of every call it sees.
private struct ExtensionReader: ClientInterceptor {
    let seen: Log

    func intercept(
        request: ClientRequest, context: ClientContext,
        next: @concurrent @Sendable (ClientRequest, ClientContext) async throws -> ClientResponse
    ) async throws -> ClientResponse {
        seen.append(context.options.extensions[TenantKey.self] ?? "(none)")
        return try await next(request, context)
    }
}
