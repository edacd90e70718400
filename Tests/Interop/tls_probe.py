#!/usr/bin/env python3
"""Raw TLS peers (Python's ssl module, no HTTP/2) for testing the edges of Breakwater's TLS.

    python3 tls_probe.py client --port N --ca CA.pem [--alpn PROTO ...] [--max-version TLSv1_1]
        Performs one TLS handshake against 127.0.0.1:N and prints one line:
        `handshake ok alpn=<proto or none> version=<TLS version>` or `handshake failed: <reason>`.
        Exits 0 either way (the line is the result). With --read-until-close it then reads until the
        server closes and prints `closed with close_notify` or `closed without close_notify: <reason>`.

    python3 tls_probe.py server --cert CERT.pem --key KEY.pem [--alpn PROTO ...]
        Listens on 127.0.0.1 (a free port), prints `PORT <n>`, and completes TLS handshakes, offering only
        the given ALPN protocols (none by default), then closes each connection after a short read.
        Exits when its stdin closes.
"""

import argparse
import os
import socket
import ssl
import sys
import threading
import warnings

# Old protocol versions are offered on purpose (to check they are refused).
warnings.simplefilter("ignore", DeprecationWarning)


def run_client(args):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(args.ca)
    if args.max_version:
        # Lowering the floor too, so that the old version is really offered.
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.maximum_version = getattr(ssl.TLSVersion, args.max_version)
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    if args.alpn:
        context.set_alpn_protocols(args.alpn)
    try:
        with socket.create_connection(("127.0.0.1", args.port), timeout=5) as raw:
            # A ragged EOF (no close_notify) must be an error here, not an empty read.
            if hasattr(ssl, "OP_IGNORE_UNEXPECTED_EOF"):
                context.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
            with context.wrap_socket(raw, server_hostname=args.server_name, suppress_ragged_eofs=False) as tls:
                print(f"handshake ok alpn={tls.selected_alpn_protocol() or 'none'} version={tls.version()}", flush=True)
                if args.read_until_close:
                    tls.settimeout(10)
                    try:
                        while tls.recv(65536):
                            pass
                        print("closed with close_notify", flush=True)
                    except (ssl.SSLError, OSError) as error:
                        print(f"closed without close_notify: {error!r}", flush=True)
    except (ssl.SSLError, OSError) as error:
        print(f"handshake failed: {error}", flush=True)
    return 0


def run_server(args):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    if args.alpn:
        context.set_alpn_protocols(args.alpn)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    def serve():
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            try:
                raw.settimeout(5)
                with context.wrap_socket(raw, server_side=True) as tls:
                    try:
                        tls.recv(1024)
                    except (ssl.SSLError, OSError):
                        pass
            except (ssl.SSLError, OSError):
                pass

    threading.Thread(target=serve, daemon=True).start()
    print(f"PORT {listener.getsockname()[1]}", flush=True)
    try:
        while sys.stdin.buffer.read1(4096):
            pass
    except (OSError, ValueError):
        pass
    listener.close()
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    client = sub.add_parser("client")
    client.add_argument("--port", type=int, required=True)
    client.add_argument("--ca", required=True)
    client.add_argument("--server-name", default="localhost")
    client.add_argument("--alpn", action="append", default=[])
    client.add_argument("--max-version", choices=["TLSv1", "TLSv1_1", "TLSv1_2", "TLSv1_3"])
    client.add_argument("--read-until-close", action="store_true")
    server = sub.add_parser("server")
    server.add_argument("--cert", required=True)
    server.add_argument("--key", required=True)
    server.add_argument("--alpn", action="append", default=[])
    args = parser.parse_args(argv)
    return run_client(args) if args.mode == "client" else run_server(args)


if __name__ == "__main__":
    sys.exit(main())
