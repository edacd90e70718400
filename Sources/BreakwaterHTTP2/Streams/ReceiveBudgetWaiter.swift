/// A stream that held back received bytes because its connection was over its receive budget.
protocol ReceiveBudgetWaiter: AnyObject {
    /// The connection is back under its budget: consume what was held back, unless the stream's own
    /// queue still says wait. Loop thread.
    func connectionBudgetReleased()
}
