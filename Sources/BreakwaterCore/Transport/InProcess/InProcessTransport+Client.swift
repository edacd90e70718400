extension InProcessTransport {
    /// The client end of an `InProcessTransport`.
    public final class Client: ClientTransport {
        let hub: InProcessHub

        init(hub: InProcessHub) { self.hub = hub }

        /// Opens a stream to the server end; it ends with UNAVAILABLE when the server is not running or
        /// this end was closed.
        public func makeStream(head: ClientRequestHead) async -> any ClientTransportStream {
            hub.makeStream(head: head)
        }

        /// Closes this end: new streams fail with UNAVAILABLE; open streams go on.
        public func close() async {
            hub.closeClient()
        }
    }
}
