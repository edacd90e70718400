import BreakwaterCore

/// `grpc.health.v1` as the load balancer's health checks need it, on the wire without a protobuf
/// library (the transport has none): the `Watch` method, a `HealthCheckRequest` with its one string
/// field, and the status field of a `HealthCheckResponse`.
enum HealthWire {
    static let watch = MethodDescriptor(service: "grpc.health.v1.Health", method: "Watch")

    /// `HealthCheckResponse.ServingStatus.SERVING`.
    static let serving = 1

    /// `HealthCheckRequest { service = 1 }`: field 1, length-delimited; nothing for the empty name.
    static func request(service: String) -> [UInt8] {
        let name = Array(service.utf8)
        guard !name.isEmpty else { return [] }
        return [0x0A] + varint(UInt64(name.count)) + name
    }

    /// The `status` (field 1) of a `HealthCheckResponse`; 0 (UNKNOWN) when absent, nil when the bytes are
    /// not a message (the peer's: never trusted to be well formed).
    static func status(_ message: [UInt8]) -> Int? {
        var index = 0
        var status = 0
        while index < message.count {
            guard let tag = readVarint(message, &index) else { return nil }
            let field = tag >> 3
            switch tag & 7 {
            case 0:
                guard let value = readVarint(message, &index) else { return nil }
                if field == 1 { status = Int(truncatingIfNeeded: value) }
            case 1:
                index += 8
            case 2:
                guard let length = readVarint(message, &index), length <= UInt64(message.count - index) else { return nil }
                index += Int(length)
            case 5:
                index += 4
            default:
                return nil
            }
            if index > message.count { return nil }
        }
        return status
    }

    private static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var bytes: [UInt8] = []
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
        return bytes
    }

    private static func readVarint(_ bytes: [UInt8], _ index: inout Int) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.count, shift < 64 {
            let byte = bytes[index]
            index += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        return nil
    }
}
