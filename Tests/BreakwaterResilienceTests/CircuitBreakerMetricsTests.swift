import CoreMetrics
import MetricsTestKit
import Testing

@testable import BreakwaterResilience

@Suite("CircuitBreaker metrics: dotted names, the breaker's dimension, the factory current when it was made")
struct CircuitBreakerMetricsTests {
    static let breaker = [("breaker", "inventory/inventory.Stock/Get")]

    @Test("state gauge, transitions by target state and rejections, under breakwater.client.breaker.*")
    func namesAndValues() throws {
        let metrics = TestMetrics()
        let clock = ManualClock()
        let breaker = try withMetricsFactory(metrics) {
            try CircuitBreaker(
                key: BreakerKey(target: "inventory", service: "inventory.Stock", method: "Get"),
                policy: CircuitBreakerPolicy(
                    consecutiveFailures: 1, openDuration: .seconds(10), jitter: 0, successThreshold: 1),
                clock: clock)
        }
        // Outside `withMetricsFactory` from here on: the breaker keeps the factory it was made with.
        breaker.record(.failure, for: try breaker.acquire())
        #expect(throws: CircuitBreakerRejection.self) { try breaker.acquire() }
        #expect(throws: CircuitBreakerRejection.self) { try breaker.acquire() }
        clock.advance(by: .seconds(10))
        breaker.record(.success, for: try breaker.acquire())  // the probe closes it
        #expect(breaker.currentState == .closed)

        #expect(CircuitBreakerMetricNames.state == "breakwater.client.breaker.state")
        #expect(CircuitBreakerMetricNames.transitions == "breakwater.client.breaker.transitions")
        #expect(CircuitBreakerMetricNames.rejections == "breakwater.client.breaker.rejections")
        let state = try metrics.expectGauge("breakwater.client.breaker.state", Self.breaker)
        #expect(state.values == [0, 1, 2, 0])  // CLOSED, OPEN, HALF_OPEN, CLOSED
        #expect(try metrics.expectCounter("breakwater.client.breaker.rejections", Self.breaker).totalValue == 2)
        for (to, count) in [("OPEN", 1), ("HALF_OPEN", 1), ("CLOSED", 1)] {
            let transitions = try metrics.expectCounter("breakwater.client.breaker.transitions", Self.breaker + [("to", to)])
            #expect(transitions.totalValue == Int64(count), "to \(to)")
        }
        // Nothing under the old names.
        #expect(metrics.counters(label: "breakwater_circuit_breaker_rejections_total").isEmpty)
        #expect(metrics.counters(label: "breakwater_circuit_breaker_transitions_total").isEmpty)
    }
}
