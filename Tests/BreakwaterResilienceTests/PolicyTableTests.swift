import BreakwaterCore
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

@testable import BreakwaterResilience

@Suite("Policy table")
struct PolicyTableTests {
    @Test("method over service over default")
    func resolution() {
        let byMethod = MethodPolicy(timeout: .seconds(1))
        let byService = MethodPolicy(timeout: .seconds(2))
        let fallback = MethodPolicy(timeout: .seconds(3))
        var table = PolicyTable(defaultPolicy: fallback)
        table[MethodKey(service: "echo.Echo", method: "Get")] = byMethod
        table[MethodKey(service: "echo.Echo")] = byService
        #expect(table.policy(for: MethodDescriptor(service: "echo.Echo", method: "Get")) == byMethod)
        #expect(table.policy(for: MethodDescriptor(service: "echo.Echo", method: "Update")) == byService)
        #expect(table.policy(for: MethodDescriptor(service: "other.Svc", method: "Get")) == fallback)
        table.defaultPolicy = nil
        #expect(table.policy(for: MethodDescriptor(service: "other.Svc", method: "Get")) == nil)
    }
}

@Suite("Service config JSON")
struct ServiceConfigTests {
    static let full = """
    {
      "loadBalancingConfig": [{"round_robin": {}}],
      "methodConfig": [
        {
          "name": [{"service": "echo.Echo", "method": "Get"}],
          "timeout": "1.5s",
          "retryPolicy": {
            "maxAttempts": 9, "initialBackoff": "0.1s", "maxBackoff": "2s",
            "backoffMultiplier": 2.5, "retryableStatusCodes": ["UNAVAILABLE", 8],
            "perAttemptRecvTimeout": "0.5s"
          },
          "circuitBreakerPolicy": {
            "consecutiveFailures": 0, "failureRateThreshold": 0.5,
            "slidingWindow": {"type": "TIME", "size": 30}, "minimumCalls": 10,
            "slowCallDurationThreshold": "0.25s", "slowCallRateThreshold": 0.8,
            "openDuration": "10s", "openDurationMultiplier": 2, "maxOpenDuration": "120s", "jitter": 0.2,
            "halfOpenProbes": 3, "successThreshold": 4, "probeLease": "5s",
            "failureStatusCodes": ["UNAVAILABLE", "INTERNAL"], "neutralStatusCodes": ["CANCELLED", "NOT_FOUND"],
            "scope": "SERVICE"
          }
        },
        {
          "name": [{"service": "echo.Echo"}, {"service": "echo.Admin", "method": "Reset"}],
          "timeout": "0.000000001s",
          "circuitBreakerPolicy": {}
        },
        { "name": [{}], "timeout": "30s" }
      ],
      "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.125}
    }
    """

    @Test("a full valid config, its loadBalancingConfig included")
    func valid() throws {
        let config = try ServiceConfig(json: Self.full)
        #expect(config.warnings.isEmpty)
        #expect(config.loadBalancing == LoadBalancingConfig(policy: .roundRobin))
        let get = try #require(config.policies.policy(for: MethodDescriptor(service: "echo.Echo", method: "Get")))
        #expect(get.timeout == .milliseconds(1500))
        let retry = try #require(get.retry)
        #expect(retry.maxAttempts == 5)  // 9 capped
        #expect(retry.initialBackoff == .milliseconds(100))
        #expect(retry.maxBackoff == .seconds(2))
        #expect(retry.backoffMultiplier == 2.5)
        #expect(retry.retryableStatusCodes == [.unavailable, .resourceExhausted])
        #expect(retry.perAttemptTimeout == .milliseconds(500))
        let breaker = try #require(get.circuitBreaker)
        #expect(breaker == CircuitBreakerPolicy(
            consecutiveFailures: nil, failureRateThreshold: 0.5, slidingWindow: .time(.seconds(30)), minimumCalls: 10,
            slowCallDurationThreshold: .milliseconds(250), slowCallRateThreshold: 0.8,
            openDuration: .seconds(10), openDurationMultiplier: 2, maxOpenDuration: .seconds(120), jitter: 0.2,
            halfOpenProbes: 3, successThreshold: 4, probeLease: .seconds(5),
            classifier: OutcomeClassifier(failureCodes: [.unavailable, .internalError], neutralCodes: [.cancelled, .notFound]),
            scope: .service
        ))

        let update = try #require(config.policies.policy(for: MethodDescriptor(service: "echo.Echo", method: "Update")))
        #expect(update.timeout == .nanoseconds(1))
        #expect(update.retry == nil)
        #expect(update.circuitBreaker == CircuitBreakerPolicy())
        #expect(config.policies.policy(for: MethodDescriptor(service: "echo.Admin", method: "Reset"))?.timeout == .nanoseconds(1))
        #expect(config.policies.policy(for: MethodDescriptor(service: "x.Y", method: "Z"))?.timeout == .seconds(30))
        #expect(config.retryThrottling == RetryThrottlingPolicy(maxTokens: 10, tokenRatio: 0.125))
    }

    @Test("an empty config, and {\"service\": \"\"} as the default name")
    func minimal() throws {
        #expect(try ServiceConfig(json: "{}") == ServiceConfig())
        let config = try ServiceConfig(json: #"{"methodConfig": [{"name": [{"service": ""}], "timeout": "2s"}]}"#)
        #expect(config.policies.defaultPolicy?.timeout == .seconds(2))
    }

    @Test("durations in proto3 JSON form", arguments: [
        ("1s", Duration.seconds(1)), ("1.5s", .milliseconds(1500)), ("0.000000001s", .nanoseconds(1)),
        ("0.1s", .milliseconds(100)), ("-2s", .seconds(-2)), ("120s", .seconds(120)),
    ])
    func durations(text: String, expected: Duration) {
        #expect(ServiceConfigParser.parseDuration(text) == expected)
    }

    @Test("malformed durations", arguments: ["1", "1.5", "s", ".5s", "1.s", "1.0000000001s", "1ms", "1 s", "+1s", "1e3s", ""])
    func badDurations(text: String) {
        #expect(ServiceConfigParser.parseDuration(text) == nil)
    }

    /// Each invalid config and the start of the error it must produce.
    static let invalid: [(String, String)] = [
        (#"[]"#, "(root): [] is not an object"),
        (#"{"methodConfig": "#, "(root): is not valid JSON"),
        (#"{"methodConfig": {}}"#, "methodConfig: {} is not an array"),
        (#"{"methodConfig": [{"timeout": "1s"}]}"#, "methodConfig[0].name: is required"),
        (#"{"methodConfig": [{"name": []}]}"#, "methodConfig[0].name: [] is not a non-empty array"),
        (#"{"methodConfig": [{"name": [{"method": "Get"}]}]}"#,
         #"methodConfig[0].name[0].service: "" is required when method "Get" is given"#),
        (#"{"methodConfig": [{"name": [{"service": "a.B", "method": "Get"}]}, {"name": [{"service": "a.B", "method": "Get"}]}]}"#,
         #"methodConfig[1].name[0]: "a.B/Get" is a duplicate of methodConfig[0].name[0]"#),
        (#"{"methodConfig": [{"name": [{}]}, {"name": [{}]}]}"#, #"methodConfig[1].name[0]: "{}" is a duplicate"#),
        (#"{"methodConfig": [{"name": [{}], "timeout": "1.5"}]}"#,
         #"methodConfig[0].timeout: "1.5" is not a duration like "1.5s""#),
        (#"{"methodConfig": [{"name": [{}], "timeout": 1.5}]}"#, "methodConfig[0].timeout: 1.5 is not a duration"),
        (#"{"methodConfig": [{"name": [{}], "timeout": "0s"}]}"#, #"methodConfig[0].timeout: "0s" is not > 0"#),
        (retry(#""maxAttempts": 1"#), "methodConfig[0].retryPolicy.maxAttempts: 1 is not > 1"),
        (retry(#""maxAttempts": 2.5"#), "methodConfig[0].retryPolicy.maxAttempts: 2.5 is not an integer"),
        (retry(#""initialBackoff": "1""#), #"methodConfig[0].retryPolicy.initialBackoff: "1" is not a duration"#),
        (retry(#""maxBackoff": "0s""#), #"methodConfig[0].retryPolicy.maxBackoff: "0s" is not > 0"#),
        (retry(#""backoffMultiplier": 0"#), "methodConfig[0].retryPolicy.backoffMultiplier: 0 is not > 0"),
        (retry(#""retryableStatusCodes": []"#), "methodConfig[0].retryPolicy.retryableStatusCodes: [] is empty"),
        (retry(#""retryableStatusCodes": ["UNAVAILABLE", "UNAVAILABEL"]"#),
         #"methodConfig[0].retryPolicy.retryableStatusCodes[1]: "UNAVAILABEL" is not a status code name"#),
        (retry(#""retryableStatusCodes": [17]"#), "methodConfig[0].retryPolicy.retryableStatusCodes[0]: 17 is not a status code"),
        (#"{"methodConfig": [{"name": [{}], "retryPolicy": {"maxAttempts": 2}}]}"#,
         "methodConfig[0].retryPolicy.initialBackoff: is required"),
        (#"{"retryThrottling": {"maxTokens": 0, "tokenRatio": 1}}"#, "retryThrottling.maxTokens: 0 is not in (0, 1000]"),
        (#"{"retryThrottling": {"maxTokens": 1001, "tokenRatio": 1}}"#, "retryThrottling.maxTokens: 1001 is not in (0, 1000]"),
        (#"{"retryThrottling": {"maxTokens": 10, "tokenRatio": 0}}"#, "retryThrottling.tokenRatio: 0 is not > 0"),
        (#"{"retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1234}}"#,
         "retryThrottling.tokenRatio: 0.1234 has more than 3 decimals"),
        (#"{"retryThrottling": {"maxTokens": 10}}"#, "retryThrottling.tokenRatio: is required"),
        (breaker(#""consecutiveFailures": -1"#), "methodConfig[0].circuitBreakerPolicy.consecutiveFailures: -1 is not >= 1"),
        (breaker(#""failureRateThreshold": 1.5"#), "methodConfig[0].circuitBreakerPolicy.failureRateThreshold: 1.5 is not in (0, 1]"),
        (breaker(#""slidingWindow": {"type": "SIZE", "size": 3}"#),
         #"methodConfig[0].circuitBreakerPolicy.slidingWindow.type: "SIZE" is not "COUNT" or "TIME""#),
        (breaker(#""slidingWindow": {"type": "COUNT", "size": 0}"#),
         "methodConfig[0].circuitBreakerPolicy.slidingWindow.size: 0 is not >= 1"),
        // A breaker keeps a byte per call of a count window: 10^14 would be allocated at its creation.
        (breaker(#""slidingWindow": {"type": "COUNT", "size": 100000000000000}, "failureRateThreshold": 0.5"#),
         "methodConfig[0].circuitBreakerPolicy.slidingWindow.size: 100000000000000 is over 1000000"),
        (breaker(#""openDuration": "60""#), #"methodConfig[0].circuitBreakerPolicy.openDuration: "60" is not a duration"#),
        (breaker(#""jitter": 1"#), "methodConfig[0].circuitBreakerPolicy.jitter: 1 is not in [0, 1)"),
        (breaker(#""halfOpenProbes": 0"#), "methodConfig[0].circuitBreakerPolicy.halfOpenProbes: 0 is not >= 1"),
        (breaker(#""neutralStatusCodes": ["NOPE"]"#),
         #"methodConfig[0].circuitBreakerPolicy.neutralStatusCodes[0]: "NOPE" is not a status code name"#),
        (breaker(#""scope": "GLOBAL""#), #"methodConfig[0].circuitBreakerPolicy.scope: "GLOBAL" is not "METHOD" or "SERVICE""#),
        // Every level reports fields it does not use (a typo, or a gRPC field not implemented yet).
        (#"{"methodConfig": [{"name": [{}], "timout": "1s"}]}"#, #"methodConfig[0].timout: "1s" is not a method config field"#),
        (#"{"methodConfig": [{"name": [{}], "waitForReady": "yes"}]}"#, #"methodConfig[0].waitForReady: "yes" is not a boolean"#),
        (#"{"methodConfig": [{"name": [{}], "hedgingPolicy": {"maxAttempts": 1}}]}"#,
         "methodConfig[0].hedgingPolicy.maxAttempts: 1 is not > 1"),
        (#"{"methodConfig": [{"name": [{}], "hedgingPolicy": {"hedgingDelay": "1s"}}]}"#,
         "methodConfig[0].hedgingPolicy.maxAttempts: is required"),
        (#"{"methodConfig": [{"name": [{}], "hedgingPolicy": {"maxAttempts": 2, "hedgingDelay": "-1s"}}]}"#,
         #"methodConfig[0].hedgingPolicy.hedgingDelay: "-1s" is not >= 0"#),
        (#"{"methodConfig": [{"name": [{}], "hedgingPolicy": {"maxAttempts": 2, "hedgingDelay": 1}}]}"#,
         #"methodConfig[0].hedgingPolicy.hedgingDelay: 1 is not a duration"#),
        (#"{"methodConfig": [{"name": [{}], "hedgingPolicy": {"maxAttempts": 2, "nonFatalStatusCodes": ["OK"]}}]}"#,
         #"methodConfig[0].hedgingPolicy.nonFatalStatusCodes: ["OK"] contains OK"#),
        (#"{"methodConfig": [{"name": [{}], "hedgingPolicy": {"maxAttempts": 2, "delay": "1s"}}]}"#,
         #"methodConfig[0].hedgingPolicy.delay: "1s" is not a hedgingPolicy field"#),
        (#"{"methodConfig": [{"name": [{}], "hedgingPolicy": {"maxAttempts": 2}, "retryPolicy": {"maxAttempts": 2, "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}"#,
         #"methodConfig[0].hedgingPolicy: {"maxAttempts": 2} cannot be combined with retryPolicy"#),
        (#"{"methodConfig": [{"name": [{}], "maxRequestMessageBytes": -1}]}"#,
         "methodConfig[0].maxRequestMessageBytes: -1 is not an integer in 0...4294967295"),
        (#"{"methodConfig": [{"name": [{}], "maxResponseMessageBytes": 1.5}]}"#,
         "methodConfig[0].maxResponseMessageBytes: 1.5 is not an integer in 0...4294967295"),
        (#"{"methodConfig": [{"name": [{}], "maxResponseMessageBytes": [1]}]}"#,
         "methodConfig[0].maxResponseMessageBytes: [1] is not a byte count"),
        (#"{"methodConfig": [{"name": [{"service": "a.B", "methd": "Get"}]}]}"#,
         #"methodConfig[0].name[0].methd: "Get" is not a name field"#),
        (retry(#""maxAttempt": 3"#), "methodConfig[0].retryPolicy.maxAttempt: 3 is not a retryPolicy field"),
        (#"{"retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1, "ratio": 1}}"#,
         "retryThrottling.ratio: 1 is not a retryThrottling field"),
        (breaker(#""slidingWindow": {"type": "COUNT", "size": 3, "kind": "x"}, "failureRateThreshold": 0.5"#),
         #"methodConfig[0].circuitBreakerPolicy.slidingWindow.kind: "x" is not a slidingWindow field"#),
        (#"{"healthCheckConfig": {"serviceName": 1}}"#, "healthCheckConfig.serviceName: 1 is not a string"),
        (#"{"healthCheckConfig": {"service": "a"}}"#, #"healthCheckConfig.service: "a" is not a healthCheckConfig field"#),
        (#"{"methodConfigs": []}"#, "methodConfigs: [] is not a service config field"),
        (#"{"": []}"#, #"(root)[""]: [] is not a service config field"#),
        (#"{"methodConfig": [{"name": [{}], "": 1}]}"#, #"methodConfig[0][""]: 1 is not a method config field"#),
        // JSON syntax: where, not only that.
        ("{\n  \"methodConfig\": [\n    {\"name\": [}]\n  ]\n}", #"(root): is not valid JSON: line 3, column 15: expected a value, found "}""#),
        (#"{"a": 1, "a": 2}"#, #"(root): is not valid JSON: line 1, column 10: duplicate key "a""#),
        (#"{"methodConfig": [], }"#, #"(root): is not valid JSON: line 1, column 22: expected a key in double quotes, found "}""#),
        (#"{"timeout": 01}"#, "(root): is not valid JSON: line 1, column 13: a number cannot have a leading zero"),
        (#"{"a": "\x"}"#, #"(root): is not valid JSON: line 1, column 9: unknown escape, found "x""#),
        (#"{"a": "\ud800"}"#, "(root): is not valid JSON: line 1, column 14: a high surrogate must be followed by a low one"),
        (#"{} {}"#, #"(root): is not valid JSON: line 1, column 4: expected the end of the text, found "{""#),
        (String(repeating: "[", count: 100), "(root): is not valid JSON: line 1, column 65: nested deeper than 64 levels"),
        (#"{"a": 1e999}"#, "(root): is not valid JSON: line 1, column 7: the number is out of range"),
        (breaker(#""consecutiveFailure": 3"#),
         "methodConfig[0].circuitBreakerPolicy.consecutiveFailure: 3 is not a circuitBreakerPolicy field"),
        (breaker(#""openDuration": "10s", "maxOpenDuration": "5s""#),
         #"methodConfig[0].circuitBreakerPolicy.maxOpenDuration: "5s" is less than openDuration"#),
        (breaker(#""slowCallRateThreshold": 0.5"#),
         "methodConfig[0].circuitBreakerPolicy.slowCallDurationThreshold: is required when the other slow-call field is set"),
    ]

    static func retry(_ override: String) -> String {
        var fields = [
            "maxAttempts": "3", "initialBackoff": #""0.1s""#, "maxBackoff": #""1s""#, "backoffMultiplier": "2",
            "retryableStatusCodes": #"["UNAVAILABLE"]"#,
        ]
        let key = String(override.split(separator: ":")[0].dropFirst().dropLast())
        fields[key] = nil
        let body = (fields.map { "\"\($0.key)\": \($0.value)" } + [override]).joined(separator: ", ")
        return #"{"methodConfig": [{"name": [{"service": "a.B"}], "retryPolicy": {"# + body + "}}]}"
    }

    static func breaker(_ fields: String) -> String {
        #"{"methodConfig": [{"name": [{"service": "a.B"}], "timeout": "1s", "circuitBreakerPolicy": {"# + fields + "}}]}"
    }

    @Test func healthCheckConfigTurnsOnHealthChecking() throws {
        let config = try ServiceConfig(json: #"{"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": "echo.Echo"}}"#)
        #expect(config.loadBalancing?.policy == .roundRobin)
        #expect(config.loadBalancing?.healthCheckServiceName == "echo.Echo")
        let alone = try ServiceConfig(json: #"{"healthCheckConfig": {"serviceName": ""}}"#)
        #expect(alone.loadBalancing?.healthCheckServiceName == "")
    }

    @Test func waitForReadyAndMessageLimitsAreRead() throws {
        let config = try ServiceConfig(json: #"""
            {"methodConfig": [
              {"name": [{"service": "a.B", "method": "Get"}], "waitForReady": true,
               "maxRequestMessageBytes": 1024, "maxResponseMessageBytes": "2048"},
              {"name": [{}], "waitForReady": false}
            ]}
            """#)
        let get = config.policies.policy(for: MethodDescriptor(service: "a.B", method: "Get"))
        #expect(get?.waitForReady == true)
        #expect(get?.maxRequestMessageBytes == 1024)
        #expect(get?.maxResponseMessageBytes == 2048)
        #expect(config.policies.policy(for: MethodDescriptor(service: "c.D", method: "Put"))?.waitForReady == false)
    }

    @Test func aPolicysCallOptionsGiveWayToTheCallsOwnAndTheSmallerLimitWins() {
        let policy = MethodPolicy(waitForReady: true, maxRequestMessageBytes: 100, maxResponseMessageBytes: 200)
        let unset = policy.applied(to: CallOptions())
        #expect(unset.waitForReady == true && unset.maxSendMessageBytes == 100 && unset.maxReceiveMessageBytes == 200)
        let own = policy.applied(to: CallOptions(maxReceiveMessageBytes: 50, maxSendMessageBytes: 1000, waitForReady: false))
        #expect(own.waitForReady == false && own.maxSendMessageBytes == 100 && own.maxReceiveMessageBytes == 50)
        #expect(throws: ConfigurationError.self) { try MethodPolicy(maxResponseMessageBytes: -1).validate() }
    }

    @Test("invalid configs fail naming the field and value", arguments: invalid)
    func invalidConfig(json: String, expected: String) {
        do {
            _ = try ServiceConfig(json: json)
            Issue.record("expected an error for \(json)")
        } catch {
            #expect(error.description.hasPrefix(expected), "got: \(error.description)")
        }
    }

    /// Found by the service-config fuzz target: with several undecodable values (here invalid UTF-8 in
    /// keys) the error named whichever member the decoder's hash order reached first, so the same bytes
    /// gave different errors from one parse to the next, each saying "expected a dictionary".
    @Test("a config with several bad values always reports the same one")
    func deterministicError() {
        var json = Array("{".utf8)
        for i in 0..<40 {
            if i > 0 { json += Array(", ".utf8) }
            json += Array("\"k\(i)\": [{\"bad".utf8) + [0xEF] + Array("\": 1}]".utf8)
        }
        json += Array("}".utf8)
        var descriptions = Set<String>()
        for _ in 0..<50 {
            do {
                _ = try ServiceConfig(json: Data(json))
                Issue.record("invalid UTF-8 accepted")
            } catch {
                descriptions.insert(error.description)
            }
        }
        #expect(descriptions.count == 1, "\(descriptions)")
        #expect(descriptions.allSatisfy { $0.hasPrefix("(root): is not valid JSON") && !$0.contains("found an array") })
    }
}
