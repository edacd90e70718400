import Testing

import BreakwaterCore
@testable import BreakwaterWire

// Header blocks for the GRPCHeaders tests.

let echoGet = MethodDescriptor(service: "echo.Echo", method: "Get")

func values(_ fields: [HeaderField], _ name: String) -> [String] {
    fields.filter { $0.name == name }.map(\.value)
}

func names(_ fields: [HeaderField]) -> [String] { fields.map(\.name) }

/// A well-formed request header block, with `extra` appended.
func request(_ extra: [HeaderField] = [], method: String = "POST", contentType: String? = "application/grpc")
    -> [HeaderField]
{
    var fields: [HeaderField] = [
        (":method", method), (":scheme", "http"), (":path", "/echo.Echo/Get"), (":authority", "localhost:1234"),
        ("te", "trailers"),
    ]
    if let contentType { fields.append(("content-type", contentType)) }
    return fields + extra
}

func rejection(_ result: Result<ServerRequestHead, GRPCHeaders.RequestRejection>)
    -> GRPCHeaders.RequestRejection?
{
    if case .failure(let r) = result { r } else { nil }
}

func head(_ result: Result<ServerRequestHead, GRPCHeaders.RequestRejection>) throws -> ServerRequestHead {
    switch result {
    case .success(let h): return h
    case .failure(let r):
        Issue.record("rejected: \(r)")
        throw r
    }
}
