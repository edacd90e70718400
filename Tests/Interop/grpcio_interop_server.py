#!/usr/bin/env python3
"""grpc.testing.TestService in grpcio: the reference interop server for Breakwater's interop-client.

Implements the server side of gRPC's doc/interop-test-descriptions.md for the cases Breakwater runs.
Plaintext by default; TLS with --use_tls=true --tls_cert_file F --tls_key_file K. Once serving it prints
one line, `PORT <n>`, and it exits when its stdin closes or on SIGTERM/SIGINT.

grpcio's Python API does not say whether a request was compressed (grpc-encoding is not among the
invocation metadata), so this server cannot check `expect_compressed`: clients run against it with
--skip_compression_probe=true. Responses are compressed as `response_compressed` and the
`compressed` response parameters ask (set_compression, disable_next_message_compression).
"""

import argparse
import os
import signal
import sys
import threading
import time
from concurrent import futures

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402

from testing_pb import empty_pb2, messages_pb2, test_pb2_grpc  # noqa: E402

INITIAL = "x-grpc-test-echo-initial"
TRAILING = "x-grpc-test-echo-trailing-bin"


def echo_metadata(context):
    metadata = dict(context.invocation_metadata())
    if INITIAL in metadata:
        context.send_initial_metadata(((INITIAL, metadata[INITIAL]),))
    if TRAILING in metadata:
        context.set_trailing_metadata(((TRAILING, metadata[TRAILING]),))


def payload(size):
    return messages_pb2.Payload(type=messages_pb2.COMPRESSABLE, body=b"\0" * size)


def check_status(status, context):
    if status.code != 0:
        context.abort(grpc.StatusCode(_CODES[status.code]), status.message)


_CODES = {code.value[0]: code.value for code in grpc.StatusCode}


class TestService(test_pb2_grpc.TestServiceServicer):
    def EmptyCall(self, request, context):
        echo_metadata(context)
        return empty_pb2.Empty()

    def UnaryCall(self, request, context):
        echo_metadata(context)
        check_status(request.response_status, context)
        if request.HasField("response_compressed"):
            context.set_compression(
                grpc.Compression.Gzip if request.response_compressed.value else grpc.Compression.NoCompression)
        return messages_pb2.SimpleResponse(payload=payload(request.response_size))

    CacheableUnaryCall = UnaryCall

    def respond(self, request, context):
        check_status(request.response_status, context)
        for parameters in request.response_parameters:
            if parameters.interval_us:
                time.sleep(parameters.interval_us / 1e6)
            if parameters.HasField("compressed"):
                context.set_compression(grpc.Compression.Gzip)
                if not parameters.compressed.value:
                    context.disable_next_message_compression()
            yield messages_pb2.StreamingOutputCallResponse(payload=payload(parameters.size))

    def StreamingOutputCall(self, request, context):
        echo_metadata(context)
        yield from self.respond(request, context)

    def StreamingInputCall(self, request_iterator, context):
        echo_metadata(context)
        total = 0
        for request in request_iterator:
            total += len(request.payload.body)
        return messages_pb2.StreamingInputCallResponse(aggregated_payload_size=total)

    def FullDuplexCall(self, request_iterator, context):
        echo_metadata(context)
        for request in request_iterator:
            yield from self.respond(request, context)

    def HalfDuplexCall(self, request_iterator, context):
        echo_metadata(context)
        for request in list(request_iterator):
            yield from self.respond(request, context)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--use_tls", default="false")
    parser.add_argument("--tls_cert_file")
    parser.add_argument("--tls_key_file")
    args = parser.parse_args()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    test_pb2_grpc.add_TestServiceServicer_to_server(TestService(), server)
    address = f"127.0.0.1:{args.port}"
    if args.use_tls.lower() == "true":
        with open(args.tls_key_file, "rb") as f:
            key = f.read()
        with open(args.tls_cert_file, "rb") as f:
            cert = f.read()
        port = server.add_secure_port(address, grpc.ssl_server_credentials([(key, cert)]))
    else:
        port = server.add_insecure_port(address)
    server.start()
    print(f"PORT {port}", flush=True)

    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())

    def watch_stdin():
        try:
            sys.stdin.buffer.read()
        finally:
            done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    done.wait()
    server.stop(grace=1).wait()


if __name__ == "__main__":
    main()
