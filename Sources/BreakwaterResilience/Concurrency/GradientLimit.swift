import BreakwaterCore

/// A concurrency limit that adapts to latency, in the spirit of Netflix's Gradient2: a plain value fed
/// with samples, with no clock of its own.
///
/// Samples are gathered in windows of ``Configuration/samplesPerUpdate`` calls; each window updates the
/// limit once. It keeps two views of the round-trip time: the window's average (`shortRTT`) and a slow
/// exponential average over windows (`longRTT`, the latency the backend has when it is not queueing). Each sample moves the
/// limit towards `limit × gradient + queue`, where `gradient = clamp(tolerance × longRTT / shortRTT,
/// 0.5, 1)`: while latency stays near its long-run value the limit grows by `queue` (√limit), once
/// latency climbs (requests queue at the backend) it shrinks, at most halving. The move is smoothed.
///
/// - A window whose calls never had half the limit in flight does not grow the limit: the caller, not
///   the backend, was the bottleneck.
/// - A window with a dropped call (a timeout, RESOURCE_EXHAUSTED, UNAVAILABLE: the backend is
///   overloaded) multiplies the limit by ``Configuration/backoffRatio`` instead.
/// - When `longRTT` is more than twice `shortRTT` (latency recovered after a slow period), `longRTT`
///   decays faster, so the limit does not stay low.
public struct GradientLimit: Sendable, Hashable {
    /// The algorithm's parameters.
    public struct Configuration: Sendable, Hashable {
        /// The limit before any sample.
        public var initialLimit: Int
        /// The lowest and highest limit.
        public var minLimit: Int
        public var maxLimit: Int
        /// How much latency above the long-run average is tolerated before the limit shrinks (≥ 1).
        public var tolerance: Double
        /// The weight of one window in the long-run average: 1 / longWindow.
        public var longWindow: Int
        /// Calls per window: the limit moves once per window. Updating on every call would add
        /// `√limit × smoothing` per call, which at a thousand calls a second outruns any latency signal.
        public var samplesPerUpdate: Int
        /// How far each sample moves the limit towards its target, in (0, 1].
        public var smoothing: Double
        /// The factor a dropped call applies to the limit, in (0, 1).
        public var backoffRatio: Double

        /// Creates a configuration; the defaults follow Gradient2's.
        public init(
            initialLimit: Int = 20, minLimit: Int = 1, maxLimit: Int = 200, tolerance: Double = 1.5,
            longWindow: Int = 600, smoothing: Double = 0.2, backoffRatio: Double = 0.9, samplesPerUpdate: Int = 50
        ) {
            self.initialLimit = initialLimit
            self.minLimit = minLimit
            self.maxLimit = maxLimit
            self.tolerance = tolerance
            self.longWindow = longWindow
            self.smoothing = smoothing
            self.backoffRatio = backoffRatio
            self.samplesPerUpdate = samplesPerUpdate
        }

        /// Checks the configuration; the error's path is the field's name.
        public func validate() throws(ConfigurationError) {
            if minLimit < 1 { throw ConfigurationError(path: "minLimit", value: "\(minLimit)", reason: "is not >= 1") }
            if maxLimit < minLimit {
                throw ConfigurationError(path: "maxLimit", value: "\(maxLimit)", reason: "is not >= minLimit (\(minLimit))")
            }
            if !(minLimit...maxLimit).contains(initialLimit) {
                throw ConfigurationError(path: "initialLimit", value: "\(initialLimit)", reason: "is not in minLimit...maxLimit")
            }
            if !(tolerance >= 1) || !tolerance.isFinite {
                throw ConfigurationError(path: "tolerance", value: "\(tolerance)", reason: "is not >= 1")
            }
            if samplesPerUpdate < 1 {
                throw ConfigurationError(path: "samplesPerUpdate", value: "\(samplesPerUpdate)", reason: "is not >= 1")
            }
            if longWindow < 1 { throw ConfigurationError(path: "longWindow", value: "\(longWindow)", reason: "is not >= 1") }
            if !(smoothing > 0 && smoothing <= 1) {
                throw ConfigurationError(path: "smoothing", value: "\(smoothing)", reason: "is not in (0, 1]")
            }
            if !(backoffRatio > 0 && backoffRatio < 1) {
                throw ConfigurationError(path: "backoffRatio", value: "\(backoffRatio)", reason: "is not in (0, 1)")
            }
        }
    }

    /// The configuration.
    public let configuration: Configuration
    /// The limit, unrounded.
    public private(set) var estimate: Double
    /// The long-run average round-trip time, in seconds; `nil` before the first window.
    public private(set) var longRTT: Double?
    /// The window being gathered.
    private var window = Window()

    private struct Window: Sendable, Hashable {
        var count = 0
        var rttSum = 0.0
        var maxInFlight = 0
        var dropped = false
    }

    /// The limit: calls allowed in flight at once.
    public var limit: Int { Int(estimate.rounded(.down)) }

    /// A limit at ``Configuration/initialLimit``.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.estimate = Double(configuration.initialLimit)
    }

    /// Feeds one call's outcome; every ``Configuration/samplesPerUpdate`` calls, the limit moves.
    /// - Parameters:
    ///   - rtt: The call's latency (time to its response headers or its failure).
    ///   - inFlight: Calls in flight when it started, itself included.
    ///   - dropped: Whether it ended as a sign of overload (timeout, RESOURCE_EXHAUSTED, UNAVAILABLE).
    public mutating func record(rtt: Duration, inFlight: Int, dropped: Bool) {
        let c = configuration
        window.count += 1
        window.maxInFlight = max(window.maxInFlight, inFlight)
        window.dropped = window.dropped || dropped
        if !dropped { window.rttSum += rtt.secondsValue }
        guard window.count >= c.samplesPerUpdate else { return }
        let done = window
        window = Window()
        if done.dropped {
            estimate = clamp(estimate * c.backoffRatio)
            return
        }
        let short = max(done.rttSum / Double(done.count), 1e-9)
        var long = longRTT.map { $0 + (short - $0) / Double(c.longWindow) } ?? short
        // Latency recovered well below the long-run view: let the long-run view catch up faster.
        if long / short > 2 { long *= 0.95 }
        longRTT = long
        // The caller did not use the limit: the backend was not what held calls back.
        if Double(done.maxInFlight) < estimate / 2 { return }
        let gradient = min(1, max(0.5, c.tolerance * long / short))
        let target = estimate * gradient + estimate.squareRoot()
        estimate = clamp(estimate * (1 - c.smoothing) + target * c.smoothing)
    }

    private func clamp(_ value: Double) -> Double {
        min(Double(configuration.maxLimit), max(Double(configuration.minLimit), value))
    }
}

extension Duration {
    fileprivate var secondsValue: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
