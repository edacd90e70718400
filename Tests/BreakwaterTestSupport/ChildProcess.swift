import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Ending the helper processes tests start (grpcio peers, TLS probes).
public enum ChildProcess {
    /// Ends `process` for certain and waits for it: SIGKILL, not `terminate()`. A child started by
    /// Foundation's `Process` from a test can inherit a signal mask with SIGTERM blocked, and then
    /// `terminate()` does nothing and the child outlives the test run.
    public static func kill(_ process: Process) {
        guard process.isRunning else { return }
        _ = Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
