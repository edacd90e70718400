import BreakwaterHTTP2
import Foundation

/// Certificates for the TLS tests, generated once per test run with the `openssl` command line into a
/// temporary directory (no key is committed): two CAs, a server certificate for localhost and 127.0.0.1,
/// a client certificate, an expired one, one for the wrong host, and server and client certificates from
/// the other CA.
struct TestPKI: Sendable {
    let directory: String

    /// Generated on first use, shared by every test of the run.
    static let shared = Task<TestPKI, any Error> { try await generate() }

    static func get() async throws -> TestPKI { try await shared.value }

    /// `<directory>/<name>.pem` and `.key`.
    func pem(_ name: String) -> String { "\(directory)/\(name).pem" }
    func key(_ name: String) -> String { "\(directory)/\(name).key" }
    func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    /// The subject of the client certificate, as RFC 2253 prints it.
    static let clientSubject = "CN=breakwater-test-client,O=Breakwater Tests"

    struct Failure: Error, CustomStringConvertible { var description: String }

    private static func generate() async throws -> TestPKI {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("breakwater-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let result: Result<Void, Failure> = await PythonPeer.blocking {
            do {
                try makeCA("ca", subject: "/CN=Breakwater Test CA", in: directory)
                try makeCA("other-ca", subject: "/CN=Some Other CA", in: directory)
                let serverSAN = "DNS:localhost,IP:127.0.0.1,IP:::1"
                try makeLeaf("server", subject: "/CN=localhost", san: serverSAN, usage: "serverAuth", ca: "ca", in: directory)
                try makeLeaf(
                    "client", subject: "/O=Breakwater Tests/CN=breakwater-test-client", san: "DNS:breakwater-test-client",
                    usage: "clientAuth", ca: "ca", in: directory)
                try makeLeaf("expired", subject: "/CN=localhost", san: serverSAN, usage: "serverAuth", ca: "ca", days: -1, in: directory)
                try makeLeaf(
                    "wrong-host", subject: "/CN=wrong.example.com", san: "DNS:wrong.example.com,IP:10.9.8.7",
                    usage: "serverAuth", ca: "ca", in: directory)
                try makeLeaf("other-server", subject: "/CN=localhost", san: serverSAN, usage: "serverAuth", ca: "other-ca", in: directory)
                try makeLeaf(
                    "other-client", subject: "/CN=intruder", san: "DNS:intruder", usage: "clientAuth", ca: "other-ca", in: directory)
                return .success(())
            } catch let error as Failure {
                return .failure(error)
            } catch {
                return .failure(Failure(description: "\(error)"))
            }
        }
        try result.get()
        return TestPKI(directory: directory)
    }

    private static func makeCA(_ name: String, subject: String, in directory: String) throws {
        try openssl(
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", "\(name).key", "-out", "\(name).pem", "-subj", subject, "-days", "3",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ], in: directory)
    }

    private static func makeLeaf(
        _ name: String, subject: String, san: String, usage: String, ca: String, days: Int = 3, in directory: String
    ) throws {
        try openssl(
            [
                "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", subject,
            ], in: directory)
        let extensions = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
            + "extendedKeyUsage=\(usage)\nsubjectAltName=\(san)\n"
        try extensions.write(toFile: "\(directory)/\(name).ext", atomically: true, encoding: .utf8)
        try openssl(
            [
                "x509", "-req", "-in", "\(name).csr", "-CA", "\(ca).pem", "-CAkey", "\(ca).key", "-days", String(days),
                "-extfile", "\(name).ext", "-out", "\(name).pem",
            ], in: directory)
    }

    private static func openssl(_ arguments: [String], in directory: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "openssl \(arguments.joined(separator: " ")) failed: \(String(decoding: data, as: UTF8.self))")
        }
    }

    // MARK: Configurations

    /// A server configuration with `name`'s certificate, optionally verifying clients against the CA.
    func server(
        _ name: String = "server", clients: TLSServerConfiguration.ClientCertificateVerification = .none
    ) -> TLSServerConfiguration {
        TLSServerConfiguration(
            certificateChain: .file(pem(name)), privateKey: .file(key(name)),
            clientCertificateVerification: clients, clientCertificateTrustRoots: clients == .none ? nil : .file(pem("ca")))
    }

    /// A client configuration trusting the test CA, optionally with `name`'s client certificate.
    func client(certificate name: String? = nil, serverHostname: String? = nil) -> TLSClientConfiguration {
        TLSClientConfiguration(
            trustRoots: .certificates(.file(pem("ca"))), serverHostname: serverHostname,
            certificateChain: name.map { .file(pem($0)) }, privateKey: name.map { .file(key($0)) })
    }
}
