/// The standard resilience chain the microbenchmarks measure, as a service config: one overall timeout,
/// retry of UNAVAILABLE with a throttle, the classic consecutive-failures breaker. The breaker stays OPEN
/// for an hour once tripped, so an OPEN benchmark never sees HALF_OPEN.
public let standardChainServiceConfig = """
    {
      "methodConfig": [{
        "name": [{}],
        "timeout": "30s",
        "retryPolicy": {
          "maxAttempts": 3, "initialBackoff": "0.001s", "maxBackoff": "0.01s",
          "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]
        },
        "circuitBreakerPolicy": {"consecutiveFailures": 5, "openDuration": "3600s"}
      }],
      "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1}
    }
    """
