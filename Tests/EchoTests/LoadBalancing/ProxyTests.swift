import BreakwaterCore
import BreakwaterHTTP2
import BreakwaterResilience
import BreakwaterTestSupport
import EchoService
import Foundation
import Testing

/// Three echo servers (127.0.0.1-3) behind a real proxy, Debian's nginx (`grpc_pass`) or haproxy (HTTP/2
/// both sides), started by the test: every call kind, metadata, deadlines and trailers pass through;
/// with every upstream down, the proxy's 502/503 is UNAVAILABLE and the method breaker opens.
@Suite("Behind nginx and haproxy", .serialized, .timeLimit(.minutes(TestTime.minutes(2))))
struct ProxyTests {
    enum Proxy: String, CaseIterable, Sendable { case nginx, haproxy }

    /// A running proxy process and its scratch directory.
    struct Running {
        let process: Process
        let port: Int
        let directory: URL

        func stop() {
            ChildProcess.kill(process)
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// A port free now (bound, read, released): the proxy binds it a moment later.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw PythonPeer.Failure(description: "no free port: errno \(errno)") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func start(_ proxy: Proxy, upstreams: [(String, Int)]) async throws -> Running {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bw-\(proxy)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = try freePort()
        let dir = directory.path
        let config: String
        let command: [String]
        switch proxy {
        case .nginx:
            config = """
                daemon off;
                master_process off;
                error_log \(dir)/error.log warn;
                pid \(dir)/nginx.pid;
                events { worker_connections 256; }
                http {
                    access_log off;
                    client_max_body_size 0;
                    client_body_temp_path \(dir)/body;
                    proxy_temp_path \(dir)/proxy;
                    fastcgi_temp_path \(dir)/fastcgi;
                    uwsgi_temp_path \(dir)/uwsgi;
                    scgi_temp_path \(dir)/scgi;
                    upstream echo {
                \(upstreams.map { "        server \($0.0):\($0.1) max_fails=0;" }.joined(separator: "\n"))
                    }
                    server {
                        listen 127.0.0.1:\(port) http2;
                        location / {
                            grpc_pass grpc://echo;
                            grpc_read_timeout 30s;
                            grpc_connect_timeout 1s;
                        }
                    }
                }
                """
            command = ["/usr/sbin/nginx", "-p", dir, "-c", "\(dir)/proxy.conf"]
        case .haproxy:
            config = """
                global
                    maxconn 256
                defaults
                    mode http
                    timeout connect 1s
                    timeout client 30s
                    timeout server 30s
                frontend echo
                    bind 127.0.0.1:\(port) proto h2
                    default_backend replicas
                backend replicas
                    balance roundrobin
                \(upstreams.enumerated().map { "    server s\($0.offset) \($0.element.0):\($0.element.1) proto h2" }.joined(separator: "\n"))
                """
            command = ["/usr/sbin/haproxy", "-db", "-f", "\(dir)/proxy.conf"]
        }
        // haproxy wants a newline at the end.
        try (config + "\n").write(to: directory.appendingPathComponent("proxy.conf"), atomically: true, encoding: .utf8)
        let (process, _, output) = try PythonPeer.launch(command)
        let running = Running(process: process, port: port, directory: directory)
        // Ready when it accepts connections.
        for _ in 0..<200 {
            if Self.accepts(port) { return running }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        ChildProcess.kill(process)
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let written = (try? String(contentsOf: directory.appendingPathComponent("proxy.conf"), encoding: .utf8)) ?? ""
        running.stop()
        throw PythonPeer.Failure(description: "\(proxy) did not start (scripts/bootstrap.sh installs it): \(said)\n\(written)")
    }

    static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    @Test("every call kind, metadata, deadlines and trailers pass through", arguments: Proxy.allCases)
    func everythingPassesThrough(_ proxy: Proxy) async throws {
        let servers = try await LoadBalancingOverHTTP2Tests.startReplicas()
        let running = try await Self.start(proxy, upstreams: zip(LoadBalancingOverHTTP2Tests.hosts, servers.map(\.port)).map { ($0, $1) })
        let grpc = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: running.port))
        let echo = Echo_EchoClient(wrapping: grpc)
        do {
            try await GRPCIOEchoInteropTests.checklist(echo)
            // The proxy spreads the calls over the replicas.
            for _ in 0..<30 { _ = try await echo.get(request("x")) }
            #expect(servers.filter { $0.provider.totalCallCount > 0 }.count >= 2, "\(servers.map(\.provider.totalCallCount))")
        } catch {
            Issue.record("through \(proxy): \(error)")
        }
        await grpc.close()
        running.stop()
        for server in servers { await server.stop() }
    }

    @Test("with every upstream down the proxy's error is UNAVAILABLE and the method breaker opens", arguments: Proxy.allCases)
    func everyUpstreamDownOpensTheBreaker(_ proxy: Proxy) async throws {
        let servers = try await LoadBalancingOverHTTP2Tests.startReplicas()
        let upstreams = zip(LoadBalancingOverHTTP2Tests.hosts, servers.map(\.port)).map { ($0, $1) }
        for server in servers { await server.stop() }
        let running = try await Self.start(proxy, upstreams: upstreams)
        let resilience = try ResilienceConfiguration(
            serviceConfig: ServiceConfig(json: #"""
                {"methodConfig": [{"name": [{"service": "echo.Echo"}], "timeout": "5s",
                  "circuitBreakerPolicy": {"consecutiveFailures": 3, "openDuration": "30s"}}]}
                """#),
            target: "proxy")
        let grpc = GRPCClient(transport: HTTP2ClientTransport(host: "127.0.0.1", port: running.port), resilience: resilience)
        let echo = Echo_EchoClient(wrapping: grpc)
        var codes: [Status.Code] = []
        for _ in 0..<3 {
            codes.append(await rpcErrorCode { _ = try await echo.get(request("x")) } ?? .ok)
        }
        #expect(codes == [.unavailable, .unavailable, .unavailable], "\(codes)")
        let breaker = try #require(resilience.registry.existingBreaker(
            for: BreakerKey(target: "proxy", service: "echo.Echo", method: "Get")))
        #expect(breaker.currentState == .open)
        let rejected = await caughtRPCError { _ = try await echo.get(request("x")) }
        #expect(rejected?.isCircuitBreakerRejection == true)
        await grpc.close()
        running.stop()
    }
}
