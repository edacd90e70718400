import BreakwaterCore
import Foundation
import SwiftProtobuf

/// gRPC's server reflection service, `grpc.reflection.v1.ServerReflection` and, for older tools,
/// `grpc.reflection.v1alpha.ServerReflection`: lets clients such as grpcurl or grpcio-reflection list a
/// server's services and fetch the descriptors of their files.
///
/// It describes what it is given: the `fileDescriptorProtos` that protoc-gen-breakwater generates for
/// each service (the service's file first, then the files it imports). Services in those first files
/// are listed, as are the two reflection services themselves.
///
/// ```swift
/// let reflection = try ReflectionService(describing: [Echo_Echo.fileDescriptorProtos])
/// let server = GRPCServer(transport: transport, services: [EchoProvider(), reflection])
/// ```
public final class ReflectionService: RegistrableService {
    /// Descriptors that cannot be read: not base64, or not a `FileDescriptorProto`.
    public struct Error: Swift.Error, CustomStringConvertible, Equatable {
        /// What was wrong.
        public var description: String
    }

    private let index: ReflectionIndex

    /// Creates a reflection service for the services whose generated `fileDescriptorProtos` are given.
    /// - Parameter fileDescriptorProtos: One entry per service (or per file): its `fileDescriptorProtos`.
    /// - Throws: `ReflectionService.Error` when a descriptor cannot be read.
    public init(describing fileDescriptorProtos: [[String]]) throws(Error) {
        index = try ReflectionIndex(
            sets: fileDescriptorProtos + [
                Grpc_Reflection_V1_ServerReflection.fileDescriptorProtos,
                Grpc_Reflection_V1alpha_ServerReflection.fileDescriptorProtos,
            ])
    }

    /// The fully qualified names of the services listed, in the order given.
    public var serviceNames: [String] { index.services }

    /// Registers both versions of `ServerReflectionInfo`.
    public func registerMethods(with router: inout RPCRouter) {
        V1(index: index).registerMethods(with: &router)
        V1Alpha(index: index).registerMethods(with: &router)
    }

    private struct V1: Grpc_Reflection_V1_ServerReflection.SimpleServiceProtocol {
        let index: ReflectionIndex

        func serverReflectionInfo(
            requests: RequestStream<Grpc_Reflection_V1_ServerReflectionRequest>,
            response: ResponseWriter<Grpc_Reflection_V1_ServerReflectionResponse>,
            context: ServerContext
        ) async throws {
            for try await request in requests {
                try await response.write(Self.answer(request, index: index))
            }
        }

        static func answer(
            _ request: Grpc_Reflection_V1_ServerReflectionRequest, index: ReflectionIndex
        ) -> Grpc_Reflection_V1_ServerReflectionResponse {
            let question: ReflectionQuestion
            switch request.messageRequest {
            case .fileByFilename(let name)?: question = .fileByFilename(name)
            case .fileContainingSymbol(let symbol)?: question = .fileContainingSymbol(symbol)
            case .fileContainingExtension(let e)?:
                question = .fileContainingExtension(type: e.containingType, number: e.extensionNumber)
            case .allExtensionNumbersOfType(let type)?: question = .allExtensionNumbers(type: type)
            case .listServices?: question = .listServices
            case nil: question = .unset
            }
            return .with { r in
                r.validHost = request.host
                r.originalRequest = request
                switch index.answer(question) {
                case .files(let files): r.fileDescriptorResponse = .with { $0.fileDescriptorProto = files }
                case .extensionNumbers(let type, let numbers):
                    r.allExtensionNumbersResponse = .with {
                        $0.baseTypeName = type
                        $0.extensionNumber = numbers
                    }
                case .services(let names):
                    r.listServicesResponse = .with { $0.service = names.map { name in .with { $0.name = name } } }
                case .error(let code, let message):
                    r.errorResponse = .with {
                        $0.errorCode = Int32(code.rawValue)
                        $0.errorMessage = message
                    }
                }
            }
        }
    }

    /// v1alpha is v1 under an older package name: the same messages, fields and numbers. Each request is
    /// read as v1 through its bytes and answered by v1, so the two versions cannot drift apart.
    private struct V1Alpha: Grpc_Reflection_V1alpha_ServerReflection.SimpleServiceProtocol {
        let index: ReflectionIndex

        func serverReflectionInfo(
            requests: RequestStream<Grpc_Reflection_V1alpha_ServerReflectionRequest>,
            response: ResponseWriter<Grpc_Reflection_V1alpha_ServerReflectionResponse>,
            context: ServerContext
        ) async throws {
            for try await request in requests {
                let v1 = try Grpc_Reflection_V1_ServerReflectionRequest(serializedBytes: request.serializedBytes() as [UInt8])
                let answer = V1.answer(v1, index: index)
                try await response.write(
                    Grpc_Reflection_V1alpha_ServerReflectionResponse(serializedBytes: answer.serializedBytes() as [UInt8]))
            }
        }
    }
}
