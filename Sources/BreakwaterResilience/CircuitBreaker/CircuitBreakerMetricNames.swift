/// The names of the metrics every ``CircuitBreaker`` reports through swift-metrics, in the dotted style
/// of Breakwater's other metrics (`rpc.client.duration`, `breakwater.client.connectivity.transitions`).
///
/// A breaker reports to the metrics factory that was current when it was made: the one
/// `MetricsSystem.bootstrap` installed, or one bound with swift-metrics' `withMetricsFactory`. Every
/// metric carries ``Dimension/breaker``; ``transitions`` also ``Dimension/to``. Prometheus exporters turn
/// the dots into underscores: `breakwater_client_breaker_state`.
///
/// Earlier versions named them `breakwater_circuit_breaker_state`,
/// `breakwater_circuit_breaker_transitions_total` and `breakwater_circuit_breaker_rejections_total`.
public enum CircuitBreakerMetricNames {
    /// The breaker's state (a gauge): 0 CLOSED, 1 OPEN, 2 HALF_OPEN, 3 FORCED_OPEN, 4 DISABLED, the
    /// ``CircuitState`` raw values.
    public static let state = "breakwater.client.breaker.state"
    /// State changes (a counter), by ``Dimension/to``.
    public static let transitions = "breakwater.client.breaker.transitions"
    /// Calls rejected (a counter).
    public static let rejections = "breakwater.client.breaker.rejections"

    /// The dimensions of the breaker metrics.
    public enum Dimension {
        /// `breaker`: the breaker's key (``BreakerKey/description``), e.g. `inventory/inventory.Stock/Get`.
        public static let breaker = "breaker"
        /// `to`: the state a transition went to, as ``CircuitState/name`` spells it, e.g. `OPEN`.
        public static let to = "to"
    }
}
