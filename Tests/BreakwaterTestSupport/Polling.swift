/// Polls `condition` every 10 ms for up to 5 s; returns whether it held. For what a test cannot be told
/// directly (a thread that ended, a descriptor that closed).
public func eventually(_ condition: () -> Bool) async -> Bool {
    for _ in 0..<500 {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}
