#!/usr/bin/env python3
"""A grpcio-health-checking client: checks a Breakwater server's grpc.health.v1.Health service.

    grpcio_health_client.py --port N

Expects the server to report "" and "echo.Echo" SERVING, to know no "missing" service, and to hold
"flip" NOT_SERVING until, while this client watches it, it turns SERVING (the test flips it once
it sees the watcher). Prints `ok <check>` or `FAIL <check>: <reason>`, then `N passed, N failed`.
"""

import argparse
import sys

sys.dont_write_bytecode = True

import grpc  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    channel = grpc.insecure_channel(f"127.0.0.1:{args.port}")
    stub = health_pb2_grpc.HealthStub(channel)
    results = []

    def check(name, fn):
        try:
            fn()
            results.append(True)
            print(f"ok {name}", flush=True)
        except Exception as error:  # noqa: BLE001
            results.append(False)
            print(f"FAIL {name}: {error!r}", flush=True)

    def expect(condition, message):
        if not condition:
            raise AssertionError(message)

    def check_status(service, status):
        response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        expect(response.status == status, f"{service!r}: {response.status}")

    def check_missing():
        try:
            stub.Check(health_pb2.HealthCheckRequest(service="missing"), timeout=5)
        except grpc.RpcError as error:
            expect(error.code() == grpc.StatusCode.NOT_FOUND, f"code {error.code()}")
            return
        raise AssertionError("Check of an unknown service succeeded")

    def watch_flip():
        call = stub.Watch(health_pb2.HealthCheckRequest(service="flip"), timeout=10)
        first = next(call)
        expect(first.status == NOT_SERVING, f"first {first.status}")
        second = next(call)
        expect(second.status == SERVING, f"second {second.status}")
        call.cancel()

    def watch_unknown():
        call = stub.Watch(health_pb2.HealthCheckRequest(service="missing"), timeout=10)
        first = next(call)
        expect(first.status == SERVICE_UNKNOWN, f"first {first.status}")
        call.cancel()

    check("check-server", lambda: check_status("", SERVING))
    check("check-service", lambda: check_status("echo.Echo", SERVING))
    check("check-not-serving", lambda: check_status("flip", NOT_SERVING))
    check("check-unknown", check_missing)
    check("watch-unknown", watch_unknown)
    check("watch-change", watch_flip)
    channel.close()
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed", flush=True)
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
