import BreakwaterCore
import Foundation

/// `grpc.testing.TestService` as gRPC's interop test descriptions (<https://github.com/grpc/grpc/blob/master/doc/interop-test-descriptions.md>)
/// specify the server: payloads of the requested sizes, the requested status, metadata echoed under
/// `x-grpc-test-echo-initial` (headers) and `x-grpc-test-echo-trailing-bin` (trailers).
///
/// Compression: a request that sets `expect_compressed` to true must come compressed, judged by the
/// call's `grpc-encoding` (the transport decompresses each message before the handler sees it, so the
/// per-message flag is not visible here); otherwise the call ends with INVALID_ARGUMENT. Responses are
/// compressed as the transport chooses (gzip when the client sent gzip and accepts it):
/// `response_compressed` cannot be honoured per call or per message.
package struct TestServiceProvider: Grpc_Testing_TestService.SimpleServiceProtocol {
    package init() {}

    package func emptyCall(request: Grpc_Testing_Empty, context: ServerContext) async throws -> Grpc_Testing_Empty {
        Self.echoMetadata(context)
        return Grpc_Testing_Empty()
    }

    package func unaryCall(
        request: Grpc_Testing_SimpleRequest, context: ServerContext
    ) async throws -> Grpc_Testing_SimpleResponse {
        Self.echoMetadata(context)
        if request.hasExpectCompressed {
            try Self.check(expectCompressed: request.expectCompressed.value, context)
        }
        if request.hasResponseStatus, request.responseStatus.code != 0 {
            throw Self.error(request.responseStatus)
        }
        return Grpc_Testing_SimpleResponse.with {
            $0.payload = Self.payload(size: Int(request.responseSize))
        }
    }

    package func cacheableUnaryCall(
        request: Grpc_Testing_SimpleRequest, context: ServerContext
    ) async throws -> Grpc_Testing_SimpleResponse {
        try await unaryCall(request: request, context: context)
    }

    package func streamingOutputCall(
        request: Grpc_Testing_StreamingOutputCallRequest,
        response: ResponseWriter<Grpc_Testing_StreamingOutputCallResponse>,
        context: ServerContext
    ) async throws {
        Self.echoMetadata(context)
        try await Self.respond(to: request, with: response)
    }

    package func streamingInputCall(
        requests: RequestStream<Grpc_Testing_StreamingInputCallRequest>, context: ServerContext
    ) async throws -> Grpc_Testing_StreamingInputCallResponse {
        Self.echoMetadata(context)
        var total = 0
        for try await request in requests {
            if request.hasExpectCompressed {
                try Self.check(expectCompressed: request.expectCompressed.value, context)
            }
            total += request.payload.body.count
        }
        return Grpc_Testing_StreamingInputCallResponse.with { $0.aggregatedPayloadSize = Int32(clamping: total) }
    }

    package func fullDuplexCall(
        requests: RequestStream<Grpc_Testing_StreamingOutputCallRequest>,
        response: ResponseWriter<Grpc_Testing_StreamingOutputCallResponse>,
        context: ServerContext
    ) async throws {
        Self.echoMetadata(context)
        for try await request in requests {
            try await Self.respond(to: request, with: response)
        }
    }

    package func halfDuplexCall(
        requests: RequestStream<Grpc_Testing_StreamingOutputCallRequest>,
        response: ResponseWriter<Grpc_Testing_StreamingOutputCallResponse>,
        context: ServerContext
    ) async throws {
        Self.echoMetadata(context)
        var buffered: [Grpc_Testing_StreamingOutputCallRequest] = []
        for try await request in requests { buffered.append(request) }
        for request in buffered { try await Self.respond(to: request, with: response) }
    }

    package func unimplementedCall(request: Grpc_Testing_Empty, context: ServerContext) async throws -> Grpc_Testing_Empty {
        throw RPCError(code: .unimplemented, message: "grpc.testing.TestService/UnimplementedCall is not implemented")
    }

    // MARK: Helpers

    /// Writes one response per `response_parameters` entry (after its `interval_us`), or fails with the
    /// requested status.
    private static func respond(
        to request: Grpc_Testing_StreamingOutputCallRequest,
        with writer: ResponseWriter<Grpc_Testing_StreamingOutputCallResponse>
    ) async throws {
        if request.hasResponseStatus, request.responseStatus.code != 0 {
            throw error(request.responseStatus)
        }
        for parameters in request.responseParameters {
            if parameters.intervalUs > 0 {
                try await Task.sleep(for: .microseconds(Int(parameters.intervalUs)))
            }
            try await writer.write(Grpc_Testing_StreamingOutputCallResponse.with {
                $0.payload = payload(size: Int(parameters.size))
            })
        }
    }

    static func payload(size: Int) -> Grpc_Testing_Payload {
        Grpc_Testing_Payload.with {
            $0.type = .compressable
            $0.body = Data(count: max(0, size))
        }
    }

    private static func error(_ status: Grpc_Testing_EchoStatus) -> RPCError {
        RPCError(code: Status.Code(rawValue: Int(status.code)) ?? .unknown, message: status.message)
    }

    private static func check(expectCompressed: Bool, _ context: ServerContext) throws {
        if expectCompressed && context.requestEncoding == .identity {
            throw RPCError(code: .invalidArgument, message: "expected a compressed request, got an uncompressed one")
        }
    }

    /// `x-grpc-test-echo-initial` back in the response headers, `x-grpc-test-echo-trailing-bin` in the
    /// trailers.
    private static func echoMetadata(_ context: ServerContext) {
        for value in context.requestMetadata["x-grpc-test-echo-initial"] {
            context.responseHeaders.add(value, forKey: "x-grpc-test-echo-initial")
        }
        for value in context.requestMetadata["x-grpc-test-echo-trailing-bin"] {
            context.responseTrailers.add(value, forKey: "x-grpc-test-echo-trailing-bin")
        }
    }
}
