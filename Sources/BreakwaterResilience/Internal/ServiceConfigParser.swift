import BreakwaterCore

/// Turns a parsed service-config JSON into a ``ServiceConfig``, or the first error with its path.
enum ServiceConfigParser {
    typealias Object = [String: JSONValue]

    /// Fields a load met that it does not use: errors, or warnings kept for the caller.
    struct Report {
        var unknownFields: ServiceConfig.UnknownFields
        var warnings: [ConfigurationError] = []

        /// `error` ends the load, or becomes a warning when unknown fields are tolerated.
        mutating func unused(_ error: ConfigurationError) throws(ConfigurationError) {
            switch unknownFields {
            case .reject: throw error
            case .warn: warnings.append(error)
            }
        }
    }

    // The fields of gRPC's service config (grpc/grpc doc/service_config.md and its proto) that
    // Breakwater reads, and those it knows but does not implement yet: they are reported, not ignored.
    private static let rootFields: Set<String> = [
        "methodConfig", "retryThrottling", "loadBalancingConfig", "loadBalancingPolicy", "healthCheckConfig",
    ]
    private static let rootUnsupported: Set<String> = []
    private static let healthCheckFields: Set<String> = ["serviceName"]
    private static let outlierFields: Set<String> = [
        "interval", "baseEjectionTime", "maxEjectionTime", "maxEjectionPercent", "consecutiveFailures",
        "failurePercentageEjection", "childPolicy",
    ]
    private static let outlierUnsupported: Set<String> = ["successRateEjection"]
    private static let failurePercentageFields: Set<String> = ["threshold", "enforcementPercentage", "minimumHosts", "requestVolume"]
    private static let methodFields: Set<String> = [
        "name", "timeout", "retryPolicy", "circuitBreakerPolicy", "waitForReady", "maxRequestMessageBytes",
        "maxResponseMessageBytes", "hedgingPolicy",
    ]
    private static let nameFields: Set<String> = ["service", "method"]
    private static let retryFields: Set<String> = [
        "maxAttempts", "initialBackoff", "maxBackoff", "backoffMultiplier", "retryableStatusCodes",
        "perAttemptRecvTimeout",
    ]
    private static let hedgingFields: Set<String> = ["maxAttempts", "hedgingDelay", "nonFatalStatusCodes"]
    private static let throttlingFields: Set<String> = ["maxTokens", "tokenRatio"]
    private static let windowFields: Set<String> = ["type", "size"]

    /// Checks the keys of `fields` (at `path`, an object of `kind`), in sorted order so that the same
    /// config always reports the same field first.
    private static func checkFields(
        _ fields: Object, _ path: String, known: Set<String>, unsupported: Set<String> = [], kind: String,
        _ report: inout Report
    ) throws(ConfigurationError) {
        for key in fields.keys.sorted() where !known.contains(key) {
            // An empty key has no name to print: it is shown quoted (found by the service-config fuzzer).
            let fieldPath = key.isEmpty ? "\(path)[\"\"]" : path == "(root)" ? key : "\(path).\(key)"
            let reason = unsupported.contains(key)
                ? "is a gRPC service-config field Breakwater does not implement yet"
                : "is not a \(kind) field"
            let value = fields[key].map { PeerText.excerpt($0.description) } ?? ""
            try report.unused(ConfigurationError(path: fieldPath, value: value, reason: reason))
        }
    }

    static func parse(_ root: JSONValue, _ report: inout Report) throws(ConfigurationError) -> ServiceConfig {
        let object = try object(root, "(root)")
        try checkFields(object, "(root)", known: rootFields, unsupported: rootUnsupported, kind: "service config", &report)
        var table = PolicyTable()
        var seen: [MethodKey?: String] = [:]  // nil: the default

        if let list = object["methodConfig"] {
            guard case .array(let configs) = list else {
                throw error("methodConfig", list, "is not an array")
            }
            for (i, config) in configs.enumerated() {
                let path = "methodConfig[\(i)]"
                let fields = try self.object(config, path)
                try checkFields(fields, path, known: methodFields, kind: "method config", &report)
                let policy = try methodPolicy(fields, path, &report)
                for (key, namePath) in try names(fields, path, &report) {
                    if let first = seen[key] {
                        throw error(namePath, .string(key?.description ?? "{}"), "is a duplicate of \(first)")
                    }
                    seen[key] = namePath
                    if let key { table.entries[key] = policy } else { table.defaultPolicy = policy }
                }
            }
        }
        var throttling: RetryThrottlingPolicy?
        if let value = object["retryThrottling"] {
            let fields = try self.object(value, "retryThrottling")
            try checkFields(fields, "retryThrottling", known: throttlingFields, kind: "retryThrottling", &report)
            throttling = try retryThrottling(fields, "retryThrottling")
        }
        var config = ServiceConfig(policies: table, retryThrottling: throttling)
        if let value = object["loadBalancingConfig"] {
            config.loadBalancing = try loadBalancingList(value, "loadBalancingConfig", &report)
        } else if let value = object["loadBalancingPolicy"] {
            // The deprecated string form: "round_robin" (any case).
            guard case .string(let name) = value else { throw error("loadBalancingPolicy", value, "is not a string") }
            guard let policy = simplePolicy(name.lowercased(), [:]) else {
                throw error("loadBalancingPolicy", value, "is not pick_first, round_robin or least_request")
            }
            config.loadBalancing = LoadBalancingConfig(policy: policy)
        }
        if let value = object["healthCheckConfig"] {
            let fields = try self.object(value, "healthCheckConfig")
            try checkFields(fields, "healthCheckConfig", known: healthCheckFields, kind: "healthCheckConfig", &report)
            let name = try optionalString(fields, "serviceName", "healthCheckConfig")
            if let name {
                var balancing = config.loadBalancing ?? LoadBalancingConfig()
                balancing.healthCheckServiceName = name
                config.loadBalancing = balancing
            }
        }
        config.warnings = report.warnings
        return config
    }

    // MARK: Load balancing

    /// gRPC's `loadBalancingConfig`: a list of one-key objects, the first policy known wins (unknown
    /// names are skipped, as gRPC does); none known is an error.
    private static func loadBalancingList(
        _ value: JSONValue, _ path: String, _ report: inout Report
    ) throws(ConfigurationError) -> LoadBalancingConfig {
        guard case .array(let items) = value, !items.isEmpty else { throw error(path, value, "is not a non-empty array") }
        for (i, item) in items.enumerated() {
            let itemPath = "\(path)[\(i)]"
            let entry = try object(item, itemPath)
            guard entry.count == 1, let (name, body) = entry.first else {
                throw error(itemPath, item, "is not an object with exactly one policy name")
            }
            let bodyPath = "\(itemPath).\(name)"
            let fields = try object(body, bodyPath)
            switch name {
            case "outlier_detection", "outlier_detection_experimental":
                return try outlierDetection(fields, bodyPath, &report)
            case "pick_first":
                try checkFields(fields, bodyPath, known: ["shuffleAddressList"], kind: "pick_first", &report)
                if fields["shuffleAddressList"] == .bool(true) {
                    try report.unused(error("\(bodyPath).shuffleAddressList", .bool(true), "is not implemented by Breakwater (false only)"))
                }
                return LoadBalancingConfig(policy: .pickFirst)
            case "round_robin":
                try checkFields(fields, bodyPath, known: [], kind: "round_robin", &report)
                return LoadBalancingConfig(policy: .roundRobin)
            case "least_request", "least_request_experimental":
                try checkFields(fields, bodyPath, known: ["choiceCount"], kind: "least_request", &report)
                let choices = try optionalInt(fields, "choiceCount", bodyPath) ?? 2
                guard (2...10).contains(choices) else { throw error("\(bodyPath).choiceCount", fields["choiceCount"]!, "is not in 2...10") }
                return LoadBalancingConfig(policy: .leastRequest(choiceCount: choices))
            default:
                continue
            }
        }
        throw error(path, value, "names no policy Breakwater implements (pick_first, round_robin, least_request, outlier_detection)")
    }

    private static func positiveDuration(_ fields: Object, _ key: String, _ path: String) throws(ConfigurationError) -> Duration? {
        guard let duration = try optionalDuration(fields, key, path) else { return nil }
        guard duration > .zero else { throw error("\(path).\(key)", fields[key]!, "is not > 0") }
        return duration
    }

    private static func percentage(_ fields: Object, _ key: String, _ path: String) throws(ConfigurationError) -> Int? {
        guard let n = try optionalInt(fields, key, path) else { return nil }
        guard (0...100).contains(n) else { throw error("\(path).\(key)", fields[key]!, "is not in 0...100") }
        return n
    }

    private static func simplePolicy(_ name: String, _ fields: Object) -> LoadBalancingConfig.Policy? {
        switch name {
        case "pick_first": .pickFirst
        case "round_robin": .roundRobin
        case "least_request", "least_request_experimental": .leastRequest()
        default: nil
        }
    }

    /// gRFC A50's `outlier_detection` (with Breakwater's `consecutiveFailures`), around a `childPolicy`.
    private static func outlierDetection(
        _ fields: Object, _ path: String, _ report: inout Report
    ) throws(ConfigurationError) -> LoadBalancingConfig {
        try checkFields(fields, path, known: outlierFields, unsupported: outlierUnsupported, kind: "outlier_detection", &report)
        var policy = OutlierDetectionPolicy()
        if let interval = try positiveDuration(fields, "interval", path) { policy.interval = interval }
        if let base = try positiveDuration(fields, "baseEjectionTime", path) { policy.baseEjectionTime = base }
        if let longest = try positiveDuration(fields, "maxEjectionTime", path) { policy.maxEjectionTime = longest }
        if let percent = try percentage(fields, "maxEjectionPercent", path) { policy.maxEjectionPercent = percent }
        if let value = fields["consecutiveFailures"] {
            // 0 or null turns the rule off.
            let n = try optionalInt(fields, "consecutiveFailures", path) ?? 0
            guard n >= 0 else { throw error("\(path).consecutiveFailures", value, "is not >= 0") }
            policy.consecutiveFailures = n == 0 ? nil : n
        }
        if let value = fields["failurePercentageEjection"] {
            let rulePath = "\(path).failurePercentageEjection"
            let ruleFields = try object(value, rulePath)
            try checkFields(ruleFields, rulePath, known: failurePercentageFields, kind: "failurePercentageEjection", &report)
            var rule = OutlierDetectionPolicy.FailurePercentage()
            if let n = try percentage(ruleFields, "threshold", rulePath) { rule.threshold = n }
            if let n = try percentage(ruleFields, "enforcementPercentage", rulePath) { rule.enforcementPercentage = n }
            for key in ["minimumHosts", "requestVolume"] {
                guard let n = try optionalInt(ruleFields, key, rulePath) else { continue }
                guard n >= 0 else { throw error("\(rulePath).\(key)", ruleFields[key]!, "is not >= 0") }
                if key == "minimumHosts" { rule.minimumHosts = n } else { rule.requestVolume = n }
            }
            policy.failurePercentage = rule
        }
        var child = LoadBalancingConfig.Policy.pickFirst
        if let value = fields["childPolicy"] {
            child = try loadBalancingList(value, "\(path).childPolicy", &report).policy
        }
        return LoadBalancingConfig(policy: child, outlierDetection: policy)
    }

    // MARK: Names

    private static func names(
        _ fields: Object, _ path: String, _ report: inout Report
    ) throws(ConfigurationError) -> [(MethodKey?, String)] {
        guard let value = fields["name"] else { throw missing("\(path).name") }
        guard case .array(let names) = value, !names.isEmpty else {
            throw error("\(path).name", value, "is not a non-empty array")
        }
        var keys: [(MethodKey?, String)] = []
        for (j, name) in names.enumerated() {
            let namePath = "\(path).name[\(j)]"
            let fields = try object(name, namePath)
            try checkFields(fields, namePath, known: nameFields, kind: "name", &report)
            let service = try optionalString(fields, "service", namePath) ?? ""
            let method = try optionalString(fields, "method", namePath) ?? ""
            if service.isEmpty && !method.isEmpty {
                throw error("\(namePath).service", .string(service), "is required when method \"\(method)\" is given")
            }
            if service.isEmpty {
                keys.append((nil, namePath))
            } else {
                keys.append((MethodKey(service: service, method: method.isEmpty ? nil : method), namePath))
            }
        }
        return keys
    }

    // MARK: Method policies

    private static func methodPolicy(
        _ fields: Object, _ path: String, _ report: inout Report
    ) throws(ConfigurationError) -> MethodPolicy {
        var policy = MethodPolicy()
        if let timeout = try optionalDuration(fields, "timeout", path) {
            guard timeout > .zero else { throw error("\(path).timeout", fields["timeout"]!, "is not > 0") }
            policy.timeout = timeout
        }
        if let value = fields["waitForReady"], value != .null {
            guard case .bool(let wait) = value else { throw error("\(path).waitForReady", value, "is not a boolean") }
            policy.waitForReady = wait
        }
        policy.maxRequestMessageBytes = try optionalByteCount(fields, "maxRequestMessageBytes", path)
        policy.maxResponseMessageBytes = try optionalByteCount(fields, "maxResponseMessageBytes", path)
        if let value = fields["retryPolicy"] {
            let retryPath = "\(path).retryPolicy"
            let retryFields = try object(value, retryPath)
            try checkFields(retryFields, retryPath, known: Self.retryFields, kind: "retryPolicy", &report)
            policy.retry = try retryPolicy(retryFields, retryPath)
        }
        if let value = fields["hedgingPolicy"] {
            let hedgingPath = "\(path).hedgingPolicy"
            if fields["retryPolicy"] != nil {
                throw error(hedgingPath, value, "cannot be combined with retryPolicy (gRFC A6: a method is either retried or hedged)")
            }
            let hedgingFields = try object(value, hedgingPath)
            try checkFields(hedgingFields, hedgingPath, known: Self.hedgingFields, kind: "hedgingPolicy", &report)
            policy.hedging = try hedgingPolicy(hedgingFields, hedgingPath)
        }
        if let value = fields["circuitBreakerPolicy"] {
            let breakerPath = "\(path).circuitBreakerPolicy"
            policy.circuitBreaker = try circuitBreakerPolicy(try object(value, breakerPath), breakerPath, &report)
        }
        return policy
    }

    private static func retryPolicy(_ fields: Object, _ path: String) throws(ConfigurationError) -> RetryPolicy {
        guard let attempts = try optionalInt(fields, "maxAttempts", path) else { throw missing("\(path).maxAttempts") }
        guard attempts > 1 else { throw error("\(path).maxAttempts", fields["maxAttempts"]!, "is not > 1") }
        func positiveDuration(_ key: String) throws(ConfigurationError) -> Duration {
            guard let d = try optionalDuration(fields, key, path) else { throw missing("\(path).\(key)") }
            guard d > .zero else { throw error("\(path).\(key)", fields[key]!, "is not > 0") }
            return d
        }
        let initial = try positiveDuration("initialBackoff")
        let maximum = try positiveDuration("maxBackoff")
        guard let multiplier = try optionalDouble(fields, "backoffMultiplier", path) else {
            throw missing("\(path).backoffMultiplier")
        }
        guard multiplier > 0 else { throw error("\(path).backoffMultiplier", fields["backoffMultiplier"]!, "is not > 0") }
        guard let codes = try optionalCodes(fields, "retryableStatusCodes", path) else {
            throw missing("\(path).retryableStatusCodes")
        }
        guard !codes.isEmpty else { throw error("\(path).retryableStatusCodes", fields["retryableStatusCodes"]!, "is empty") }
        var perAttempt: Duration?
        if let d = try optionalDuration(fields, "perAttemptRecvTimeout", path) {
            guard d > .zero else { throw error("\(path).perAttemptRecvTimeout", fields["perAttemptRecvTimeout"]!, "is not > 0") }
            perAttempt = d
        }
        let policy = RetryPolicy(
            maxAttempts: attempts, initialBackoff: initial, maxBackoff: maximum,
            backoffMultiplier: multiplier, retryableStatusCodes: codes, perAttemptTimeout: perAttempt
        )
        do { try policy.validate() } catch { throw error.prefixed(path) }
        return policy
    }

    /// gRFC A6's `hedgingPolicy`: `maxAttempts` is required (above 5 it is capped, as gRPC does),
    /// `hedgingDelay` and `nonFatalStatusCodes` are optional (zero, none).
    private static func hedgingPolicy(_ fields: Object, _ path: String) throws(ConfigurationError) -> HedgingPolicy {
        guard let attempts = try optionalInt(fields, "maxAttempts", path) else { throw missing("\(path).maxAttempts") }
        guard attempts > 1 else { throw error("\(path).maxAttempts", fields["maxAttempts"]!, "is not > 1") }
        let delay = try optionalDuration(fields, "hedgingDelay", path) ?? .zero
        guard delay >= .zero else { throw error("\(path).hedgingDelay", fields["hedgingDelay"]!, "is not >= 0") }
        let codes = try optionalCodes(fields, "nonFatalStatusCodes", path) ?? []
        if codes.contains(.ok) { throw error("\(path).nonFatalStatusCodes", fields["nonFatalStatusCodes"]!, "contains OK") }
        let policy = HedgingPolicy(maxAttempts: attempts, hedgingDelay: delay, nonFatalStatusCodes: codes)
        do { try policy.validate() } catch { throw error.prefixed(path) }
        return policy
    }

    private static let breakerFields: Set<String> = [
        "consecutiveFailures", "failureRateThreshold", "slidingWindow", "minimumCalls",
        "slowCallDurationThreshold", "slowCallRateThreshold", "openDuration", "openDurationMultiplier",
        "maxOpenDuration", "jitter", "halfOpenProbes", "successThreshold", "probeLease",
        "failureStatusCodes", "neutralStatusCodes", "scope",
    ]

    private static func circuitBreakerPolicy(
        _ fields: Object, _ path: String, _ report: inout Report
    ) throws(ConfigurationError) -> CircuitBreakerPolicy {
        try checkFields(fields, path, known: breakerFields, kind: "circuitBreakerPolicy", &report)
        var p = CircuitBreakerPolicy()
        if let n = try optionalInt(fields, "consecutiveFailures", path) { p.consecutiveFailures = n == 0 ? nil : n }
        if let r = try optionalDouble(fields, "failureRateThreshold", path) { p.failureRateThreshold = r }
        if let value = fields["slidingWindow"] {
            let windowPath = "\(path).slidingWindow"
            let window = try object(value, windowPath)
            try checkFields(window, windowPath, known: windowFields, kind: "slidingWindow", &report)
            guard let size = try optionalInt(window, "size", windowPath) else { throw missing("\(windowPath).size") }
            guard size >= 1 else { throw error("\(windowPath).size", window["size"]!, "is not >= 1") }
            switch try optionalString(window, "type", windowPath) {
            case "COUNT": p.slidingWindow = .count(size)
            case "TIME": p.slidingWindow = .time(.seconds(size))
            case nil: throw missing("\(windowPath).type")
            default: throw error("\(windowPath).type", window["type"]!, "is not \"COUNT\" or \"TIME\"")
            }
        }
        if let n = try optionalInt(fields, "minimumCalls", path) { p.minimumCalls = n }
        if let d = try optionalDuration(fields, "slowCallDurationThreshold", path) { p.slowCallDurationThreshold = d }
        if let r = try optionalDouble(fields, "slowCallRateThreshold", path) { p.slowCallRateThreshold = r }
        if let d = try optionalDuration(fields, "openDuration", path) { p.openDuration = d }
        if let m = try optionalDouble(fields, "openDurationMultiplier", path) { p.openDurationMultiplier = m }
        if let d = try optionalDuration(fields, "maxOpenDuration", path) { p.maxOpenDuration = d }
        if let j = try optionalDouble(fields, "jitter", path) { p.jitter = j }
        if let n = try optionalInt(fields, "halfOpenProbes", path) { p.halfOpenProbes = n }
        if let n = try optionalInt(fields, "successThreshold", path) { p.successThreshold = n }
        if let d = try optionalDuration(fields, "probeLease", path) { p.probeLease = d }
        if let codes = try optionalCodes(fields, "failureStatusCodes", path) { p.classifier.failureCodes = codes }
        if let codes = try optionalCodes(fields, "neutralStatusCodes", path) { p.classifier.neutralCodes = codes }
        switch try optionalString(fields, "scope", path) {
        case nil, "METHOD": p.scope = .method
        case "SERVICE": p.scope = .service
        default: throw error("\(path).scope", fields["scope"]!, "is not \"METHOD\" or \"SERVICE\"")
        }
        do {
            try p.validate()
        } catch {
            // Report the value as written in the JSON rather than as Swift prints it.
            var e = error.prefixed(path)
            if !e.value.isEmpty, let written = fields[error.path] { e.value = written.description }
            throw e
        }
        return p
    }

    private static func retryThrottling(_ fields: Object, _ path: String) throws(ConfigurationError) -> RetryThrottlingPolicy {
        guard let tokensValue = fields["maxTokens"] else { throw missing("\(path).maxTokens") }
        guard case .number(let tokens) = tokensValue else { throw error("\(path).maxTokens", tokensValue, "is not a number") }
        guard tokens > 0 && tokens <= 1000 else { throw error("\(path).maxTokens", tokensValue, "is not in (0, 1000]") }
        guard tokens == tokens.rounded() else { throw error("\(path).maxTokens", tokensValue, "is not an integer") }
        guard let ratio = try optionalDouble(fields, "tokenRatio", path) else { throw missing("\(path).tokenRatio") }
        let policy = RetryThrottlingPolicy(maxTokens: Int(tokens), tokenRatio: ratio)
        do {
            try policy.validate()
        } catch {
            throw ConfigurationError(path: "\(path).\(error.path)", value: fields[error.path]?.description ?? error.value, reason: error.reason)
        }
        return policy
    }
}
