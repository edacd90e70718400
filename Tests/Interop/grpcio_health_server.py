#!/usr/bin/env python3
"""grpcio-health-checking's health servicer, as the peer for Breakwater's HealthClient.

Serves grpc.health.v1.Health on 127.0.0.1 (port from --port, 0 picks one) with "" SERVING and "svc"
NOT_SERVING; prints `PORT <n>`; then reads commands from stdin, one a line: `set <service> <STATUS>`
(STATUS a ServingStatus name). Exits when stdin closes.
"""

import argparse
import sys
from concurrent import futures

sys.dont_write_bytecode = True

import grpc  # noqa: E402
from grpc_health.v1 import health, health_pb2, health_pb2_grpc  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    servicer.set("svc", health_pb2.HealthCheckResponse.NOT_SERVING)
    port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print(f"PORT {port}", flush=True)
    for line in sys.stdin:
        words = line.split()
        if len(words) == 3 and words[0] == "set":
            servicer.set(words[1], health_pb2.HealthCheckResponse.ServingStatus.Value(words[2]))
            print(f"SET {words[1]} {words[2]}", flush=True)
    servicer.enter_graceful_shutdown()
    server.stop(grace=0.5).wait()


if __name__ == "__main__":
    main()
