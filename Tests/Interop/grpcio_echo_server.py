#!/usr/bin/env python3
"""A grpcio implementation of the echo service, as a reference peer for Breakwater clients.

Plaintext HTTP/2 on 127.0.0.1 by default; TLS with --tls-cert and --tls-key (and mutual TLS with
--tls-ca plus --tls-require-client-auth). Once serving it prints exactly one line, `PORT <n>`, to stdout.
It exits cleanly on SIGTERM, SIGINT, or when its stdin closes (so a test harness that dies takes
the server with it); pass --ignore-stdin to run it by hand with stdin at /dev/null.

Semantics (the contract in README.md, shared with the Breakwater echo server):
  Get      returns the text unchanged; a text `sleep:<ms>` first sleeps that long.
  Expand   splits the text on single spaces and streams one response per word.
  Collect  joins all received texts with single spaces.
  Update   echoes each message as it arrives.
Every request metadata key starting with `x-echo-` is sent back in the initial metadata under the
same key, and in the trailers as `x-trailer-<rest>` (binary `-bin` keys too, as bytes).
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

from echo_pb import echo_pb2, echo_pb2_grpc  # noqa: E402

ECHO_PREFIX = "x-echo-"
TRAILER_PREFIX = "x-trailer-"


def echo_metadata(context):
    """Sends the x-echo-* request metadata back as initial metadata, and sets the matching trailers.

    With nothing to echo it sends no initial metadata itself, so grpcio sends the headers with the first
    response, as servers commonly do: a client must not wait for headers before it writes (Update)."""
    echoed = [(k, v) for k, v in context.invocation_metadata() if k.startswith(ECHO_PREFIX)]
    if echoed:
        context.send_initial_metadata(tuple(echoed))
    context.set_trailing_metadata(tuple((TRAILER_PREFIX + k[len(ECHO_PREFIX):], v) for k, v in echoed))


def parse_sleep(text):
    """Milliseconds for a `sleep:<ms>` text, else None."""
    if not text.startswith("sleep:"):
        return None
    try:
        ms = int(text[len("sleep:"):])
    except ValueError:
        return None
    return ms if ms >= 0 else None


class EchoServicer(echo_pb2_grpc.EchoServicer):
    def Get(self, request, context):
        echo_metadata(context)
        ms = parse_sleep(request.text)
        if ms is not None:
            end = time.monotonic() + ms / 1000.0
            # Sleep in small steps so a cancelled or expired call frees its thread quickly.
            while context.is_active():
                left = end - time.monotonic()
                if left <= 0:
                    break
                time.sleep(min(left, 0.01))
        return echo_pb2.EchoResponse(text=request.text)

    def Expand(self, request, context):
        echo_metadata(context)
        for word in request.text.split(" "):
            yield echo_pb2.EchoResponse(text=word)

    def Collect(self, request_iterator, context):
        echo_metadata(context)
        return echo_pb2.EchoResponse(text=" ".join(r.text for r in request_iterator))

    def Update(self, request_iterator, context):
        echo_metadata(context)
        for request in request_iterator:
            yield echo_pb2.EchoResponse(text=request.text)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one (default)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--ignore-stdin", action="store_true", help="do not exit when stdin closes")
    parser.add_argument("--tls-cert", help="serve TLS with this PEM certificate chain (needs --tls-key)")
    parser.add_argument("--tls-key", help="the PEM private key of --tls-cert")
    parser.add_argument("--tls-ca", help="PEM CA bundle that client certificates are verified against")
    parser.add_argument("--tls-require-client-auth", action="store_true",
                        help="require a client certificate signed by --tls-ca (mutual TLS)")
    args = parser.parse_args(argv)

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=32),
        options=[
            ("grpc.max_receive_message_length", 16 * 1024 * 1024),
            ("grpc.max_send_message_length", 16 * 1024 * 1024),
        ],
    )
    echo_pb2_grpc.add_EchoServicer_to_server(EchoServicer(), server)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if args.tls_require_client_auth and not args.tls_ca:
        parser.error("--tls-require-client-auth needs --tls-ca")
    if args.tls_cert:
        credentials = grpc.ssl_server_credentials(
            [(read_file(args.tls_key), read_file(args.tls_cert))],
            root_certificates=read_file(args.tls_ca) if args.tls_ca else None,
            require_client_auth=args.tls_require_client_auth,
        )
        port = server.add_secure_port(f"{args.host}:{args.port}", credentials)
    else:
        port = server.add_insecure_port(f"{args.host}:{args.port}")
    if port == 0:
        print(f"cannot bind {args.host}:{args.port}", file=sys.stderr)
        return 1
    server.start()

    stop = threading.Event()

    def on_signal(signum, _frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    if not args.ignore_stdin:
        def watch_stdin():
            try:
                while sys.stdin.buffer.read1(4096):
                    pass
            except (OSError, ValueError):
                pass
            stop.set()

        threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()

    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()

    # Wake up now and then so signals are handled promptly by the main thread.
    while not stop.wait(0.2):
        pass
    server.stop(grace=1.0).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
