extension InProcessTransport {
    /// The server end of an `InProcessTransport`.
    public final class Server: ServerTransport {
        let hub: InProcessHub

        init(hub: InProcessHub) { self.hub = hub }

        /// Starts accepting streams; returns 0 (there is no port).
        public func start(acceptStream: @escaping @Sendable (any ServerTransportStream) -> Void) async throws -> Int {
            try hub.startServer(acceptStream)
            return 0
        }

        /// Stops accepting (new streams fail with UNAVAILABLE), waits up to `gracePeriod` for open
        /// streams to finish, then ends the rest with UNAVAILABLE.
        public func shutdownGracefully(gracePeriod: Duration) async {
            await hub.shutdownServer(gracePeriod: gracePeriod)
        }
    }
}
