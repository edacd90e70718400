/// The names of the metrics Breakwater reports, after OpenTelemetry's semantic conventions for RPC.
///
/// Every per-call metric carries the dimensions ``Dimension/system`` (`grpc`), ``Dimension/service`` and
/// ``Dimension/method``; durations and attempts also carry ``Dimension/statusCode`` (the gRPC status code
/// as a number, e.g. `"14"`), retries ``Dimension/retryReason``. Exporters that do not allow dots (such
/// as Prometheus) usually turn them into underscores: `rpc_client_duration`.
public enum RPCMetricNames {
    /// Client: how long each call took, from the start to its status (a timer), by status code.
    public static let clientDuration = "rpc.client.duration"
    /// Client: calls started (a counter).
    public static let clientCallsStarted = "rpc.client.calls.started"
    /// Client: calls started and not yet ended (a meter).
    public static let clientCallsActive = "rpc.client.calls.active"
    /// Client: network attempts per call (a recorder), by status code.
    public static let clientAttemptsPerRPC = "rpc.client.attempts_per_rpc"
    /// Client: retries (a counter), by ``Dimension/retryReason``: `status`, `pushback`, `transparent`,
    /// `hedge`.
    public static let clientRetries = "rpc.client.retries"
    /// Client: attempts ended by an interceptor without the network, such as a circuit breaker's
    /// rejection (a counter), by ``Dimension/rejectedBy``.
    public static let clientRejections = "rpc.client.rejections"
    /// Client: size of each serialized request message sent, in bytes (a recorder).
    public static let clientRequestSize = "rpc.client.request.size"
    /// Client: size of each serialized response message received, in bytes (a recorder).
    public static let clientResponseSize = "rpc.client.response.size"

    /// Server: how long each call took, from its start to its handler's end (a timer), by status code.
    public static let serverDuration = "rpc.server.duration"
    /// Server: calls started (a counter).
    public static let serverCallsStarted = "rpc.server.calls.started"
    /// Server: calls started and not yet ended (a meter).
    public static let serverCallsActive = "rpc.server.calls.active"
    /// Server: size of each serialized request message received, in bytes (a recorder).
    public static let serverRequestSize = "rpc.server.request.size"
    /// Server: size of each serialized response message sent, in bytes (a recorder).
    public static let serverResponseSize = "rpc.server.response.size"

    /// The dimensions (OpenTelemetry attributes) of the per-call metrics.
    public enum Dimension {
        /// `rpc.system`, always `grpc`.
        public static let system = "rpc.system"
        /// `rpc.service`, the fully qualified service, e.g. `echo.Echo`.
        public static let service = "rpc.service"
        /// `rpc.method`, the method's name, e.g. `Get`.
        public static let method = "rpc.method"
        /// `rpc.grpc.status_code`, the status code's number.
        public static let statusCode = "rpc.grpc.status_code"
        /// `rpc.retry.reason`: `status`, `pushback`, `transparent` or `hedge`.
        public static let retryReason = "rpc.retry.reason"
        /// `rpc.rejected_by`: what ended an attempt without the network, e.g. `circuit-breaker`.
        public static let rejectedBy = "rpc.rejected_by"
    }
}
