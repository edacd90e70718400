#!/usr/bin/env python3
"""A grpcio checklist run against an echo server (Breakwater's, or grpcio_echo_server.py).

    python3 grpcio_echo_client.py --port N [--host 127.0.0.1]
        [--tls-ca CA.pem [--tls-cert CERT.pem --tls-key KEY.pem] [--tls-server-name NAME]]

Plaintext by default; with --tls-ca it connects over TLS, verifying the server against that CA (and
presents a client certificate for mutual TLS with --tls-cert and --tls-key).

Prints one line per check, `ok <name>` or `FAIL <name>: <details>`, then `N passed, M failed`.
Exits 0 only when every check passed. The server must follow the contract in README.md
(echo semantics, `x-echo-*` metadata echo, `sleep:<ms>` on Get).
"""

import argparse
import os
import queue
import sys
import time
import traceback

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402

from echo_pb import echo_pb2, echo_pb2_grpc  # noqa: E402

# Every call has a deadline so a broken server fails a check instead of hanging the run.
CALL_TIMEOUT = 10.0


class CheckFailed(Exception):
    pass


def expect(condition, details):
    if not condition:
        raise CheckFailed(details)


def expect_equal(actual, expected, what):
    if actual != expected:
        raise CheckFailed(f"{what}: expected {_short(expected)}, got {_short(actual)}")


def _short(value, limit=200):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def expect_status(call_fn, code, what):
    """Runs call_fn, which must fail with grpc status `code`; returns the RpcError."""
    try:
        result = call_fn()
    except grpc.RpcError as error:
        expect(error.code() == code, f"{what}: expected {code.name}, got {error.code().name}: {error.details()!r}")
        return error
    raise CheckFailed(f"{what}: expected {code.name}, but the call succeeded with text {_short(getattr(result, 'text', result))}")


def metadata_dict(metadata):
    out = {}
    for key, value in metadata or ():
        out.setdefault(key, []).append(value)
    return out


class Checklist:
    def __init__(self, channel):
        self.channel = channel
        self.stub = echo_pb2_grpc.EchoStub(channel)

    # --- the four call kinds -------------------------------------------------------------------

    def check_get(self):
        response = self.stub.Get(echo_pb2.EchoRequest(text="hello, breakwater"), timeout=CALL_TIMEOUT)
        expect_equal(response.text, "hello, breakwater", "Get")
        empty = self.stub.Get(echo_pb2.EchoRequest(text=""), timeout=CALL_TIMEOUT)
        expect_equal(empty.text, "", "Get of an empty text")
        unicode_text = "héllo ☃ 😀"
        expect_equal(self.stub.Get(echo_pb2.EchoRequest(text=unicode_text), timeout=CALL_TIMEOUT).text,
                     unicode_text, "Get of a non-ASCII text")

    def check_expand(self):
        words = [r.text for r in self.stub.Expand(echo_pb2.EchoRequest(text="a b c"), timeout=CALL_TIMEOUT)]
        expect_equal(words, ["a", "b", "c"], "Expand('a b c')")
        one = [r.text for r in self.stub.Expand(echo_pb2.EchoRequest(text="single"), timeout=CALL_TIMEOUT)]
        expect_equal(one, ["single"], "Expand('single')")

    def check_collect(self):
        requests = iter([echo_pb2.EchoRequest(text=t) for t in ["a", "b", "c"]])
        response = self.stub.Collect(requests, timeout=CALL_TIMEOUT)
        expect_equal(response.text, "a b c", "Collect(a, b, c)")
        one = self.stub.Collect(iter([echo_pb2.EchoRequest(text="only")]), timeout=CALL_TIMEOUT)
        expect_equal(one.text, "only", "Collect(only)")

    def check_update(self):
        """Sends 5 messages, each only after the previous echo arrived: proves the server streams
        responses as requests arrive, rather than after the request stream ends."""
        outbox = queue.Queue()
        done = object()

        def requests():
            while True:
                item = outbox.get()
                if item is done:
                    return
                yield item

        call = self.stub.Update(requests(), timeout=CALL_TIMEOUT)
        try:
            for i in range(5):
                text = f"update-{i}"
                outbox.put(echo_pb2.EchoRequest(text=text))
                try:
                    response = next(call)
                except StopIteration:
                    raise CheckFailed(f"Update: stream ended after {i} responses, before the echo of {text!r}")
                except grpc.RpcError as error:
                    raise CheckFailed(
                        f"Update: no echo of {text!r} while the request stream was still open "
                        f"({error.code().name}: {error.details()!r}); responses must not wait for the end of input")
                expect_equal(response.text, text, f"Update response {i}")
            outbox.put(done)
            rest = [r.text for r in call]
            expect_equal(rest, [], "Update responses after the request stream ended")
            expect_equal(call.code(), grpc.StatusCode.OK, "Update status")
        finally:
            outbox.put(done)
            call.cancel()

    # --- metadata ------------------------------------------------------------------------------

    ASCII_KEY, ASCII_VALUE = "x-echo-greeting", "hello metadata"
    BIN_KEY, BIN_VALUE = "x-echo-blob-bin", bytes([0, 1, 2, 0x7F, 0x80, 0xFE, 0xFF])

    def _check_echoed(self, initial, trailing, what):
        initial, trailing = metadata_dict(initial), metadata_dict(trailing)
        expect_equal(initial.get(self.ASCII_KEY), [self.ASCII_VALUE], f"{what}: initial metadata {self.ASCII_KEY}")
        expect_equal(initial.get(self.BIN_KEY), [self.BIN_VALUE], f"{what}: initial metadata {self.BIN_KEY}")
        expect_equal(trailing.get("x-trailer-greeting"), [self.ASCII_VALUE], f"{what}: trailer x-trailer-greeting")
        expect_equal(trailing.get("x-trailer-blob-bin"), [self.BIN_VALUE], f"{what}: trailer x-trailer-blob-bin")

    def check_metadata_unary(self):
        metadata = ((self.ASCII_KEY, self.ASCII_VALUE), (self.BIN_KEY, self.BIN_VALUE), ("x-other", "not echoed"))
        response, call = self.stub.Get.with_call(
            echo_pb2.EchoRequest(text="md"), metadata=metadata, timeout=CALL_TIMEOUT)
        expect_equal(response.text, "md", "Get with metadata")
        self._check_echoed(call.initial_metadata(), call.trailing_metadata(), "Get")
        expect("x-other" not in metadata_dict(call.initial_metadata()), "Get: x-other should not be echoed")

    def check_metadata_streaming(self):
        metadata = ((self.ASCII_KEY, self.ASCII_VALUE), (self.BIN_KEY, self.BIN_VALUE))
        call = self.stub.Update(iter([echo_pb2.EchoRequest(text="s1"), echo_pb2.EchoRequest(text="s2")]),
                                metadata=metadata, timeout=CALL_TIMEOUT)
        initial = call.initial_metadata()
        texts = [r.text for r in call]
        expect_equal(texts, ["s1", "s2"], "Update with metadata")
        self._check_echoed(initial, call.trailing_metadata(), "Update")

    # --- deadlines, sizes, errors, compression --------------------------------------------------

    def check_deadline(self):
        start = time.monotonic()
        expect_status(lambda: self.stub.Get(echo_pb2.EchoRequest(text="sleep:2000"), timeout=0.2),
                      grpc.StatusCode.DEADLINE_EXCEEDED, "Get(sleep:2000) with a 0.2 s timeout")
        elapsed = time.monotonic() - start
        expect(elapsed < 1.5, f"DEADLINE_EXCEEDED took {elapsed:.2f} s for a 0.2 s timeout")
        # The connection is still usable afterwards.
        expect_equal(self.stub.Get(echo_pb2.EchoRequest(text="after"), timeout=CALL_TIMEOUT).text,
                     "after", "Get after a deadline")

    def check_sleep_within_deadline(self):
        start = time.monotonic()
        response = self.stub.Get(echo_pb2.EchoRequest(text="sleep:100"), timeout=CALL_TIMEOUT)
        elapsed = time.monotonic() - start
        expect_equal(response.text, "sleep:100", "Get(sleep:100)")
        expect(elapsed >= 0.09, f"Get(sleep:100) returned after {elapsed:.3f} s; the server did not sleep")

    def check_large_message(self):
        # 1 MiB of varied text, so a framing or flow-control bug cannot hide behind a repeated byte.
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 "
        text = "".join(alphabet[(i * 7 + i // 37) % len(alphabet)] for i in range(1024 * 1024))
        response = self.stub.Get(echo_pb2.EchoRequest(text=text), timeout=CALL_TIMEOUT)
        expect(len(response.text) == len(text), f"1 MiB Get: got {len(response.text)} chars back")
        expect(response.text == text, "1 MiB Get: the text came back changed")

    def _raw_unary(self, path):
        return self.channel.unary_unary(
            path,
            request_serializer=echo_pb2.EchoRequest.SerializeToString,
            response_deserializer=echo_pb2.EchoResponse.FromString,
        )

    def check_unknown_method(self):
        expect_status(lambda: self._raw_unary("/echo.Echo/Nope")(echo_pb2.EchoRequest(text="x"), timeout=CALL_TIMEOUT),
                      grpc.StatusCode.UNIMPLEMENTED, "/echo.Echo/Nope")

    def check_unknown_service(self):
        expect_status(lambda: self._raw_unary("/echo.Nope/Get")(echo_pb2.EchoRequest(text="x"), timeout=CALL_TIMEOUT),
                      grpc.StatusCode.UNIMPLEMENTED, "/echo.Nope/Get")

    def check_gzip(self):
        response = self.stub.Get(echo_pb2.EchoRequest(text="compressed hello"),
                                 compression=grpc.Compression.Gzip, timeout=CALL_TIMEOUT)
        expect_equal(response.text, "compressed hello", "gzip Get")
        # Large and compressible, so the compressed form really differs in size from the message.
        big = "gzip me " * 20000
        response = self.stub.Get(echo_pb2.EchoRequest(text=big), compression=grpc.Compression.Gzip,
                                 timeout=CALL_TIMEOUT)
        expect(response.text == big, f"gzip Get of {len(big)} chars: got {len(response.text)} chars back")


CHECKS = [
    ("get", Checklist.check_get),
    ("expand", Checklist.check_expand),
    ("collect", Checklist.check_collect),
    ("update-interleaved", Checklist.check_update),
    ("metadata-unary", Checklist.check_metadata_unary),
    ("metadata-streaming", Checklist.check_metadata_streaming),
    ("deadline-exceeded", Checklist.check_deadline),
    ("sleep-within-deadline", Checklist.check_sleep_within_deadline),
    ("large-message-1mib", Checklist.check_large_message),
    ("unknown-method", Checklist.check_unknown_method),
    ("unknown-service", Checklist.check_unknown_service),
    ("gzip", Checklist.check_gzip),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--only", action="append", default=[], help="run only this check (repeatable)")
    parser.add_argument("--connect-timeout", type=float, default=CALL_TIMEOUT,
                        help=f"seconds to wait for the connection (default {CALL_TIMEOUT:.0f})")
    parser.add_argument("--tls-ca", help="connect over TLS, trusting this PEM CA bundle")
    parser.add_argument("--tls-cert", help="client certificate chain (PEM) for mutual TLS; needs --tls-key")
    parser.add_argument("--tls-key", help="the PEM private key of --tls-cert")
    parser.add_argument("--tls-server-name", help="the name expected in the server certificate (default: --host)")
    args = parser.parse_args(argv)

    target = f"{args.host}:{args.port}"
    options = [
        ("grpc.max_receive_message_length", 16 * 1024 * 1024),
        ("grpc.max_send_message_length", 16 * 1024 * 1024),
    ]
    passed = failed = 0
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if (args.tls_cert or args.tls_server_name) and not args.tls_ca:
        parser.error("--tls-cert, --tls-key and --tls-server-name need --tls-ca")
    if args.tls_ca:
        def read_file(path):
            with open(path, "rb") as f:
                return f.read()

        credentials = grpc.ssl_channel_credentials(
            root_certificates=read_file(args.tls_ca),
            private_key=read_file(args.tls_key) if args.tls_key else None,
            certificate_chain=read_file(args.tls_cert) if args.tls_cert else None,
        )
        if args.tls_server_name:
            options.append(("grpc.ssl_target_name_override", args.tls_server_name))
        channel = grpc.secure_channel(target, credentials, options=options)
    else:
        channel = grpc.insecure_channel(target, options=options)
    with channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=args.connect_timeout)
        except grpc.FutureTimeoutError:
            print(f"FAIL connect: no connection to {target} within {args.connect_timeout:g} s", flush=True)
            print(f"0 passed, {len(CHECKS)} failed", flush=True)
            return 1
        checklist = Checklist(channel)
        for name, check in CHECKS:
            if args.only and name not in args.only:
                continue
            try:
                check(checklist)
            except CheckFailed as error:
                failed += 1
                print(f"FAIL {name}: {error}", flush=True)
            except grpc.RpcError as error:
                failed += 1
                print(f"FAIL {name}: unexpected RPC error {error.code().name}: {error.details()!r}", flush=True)
            except Exception as error:  # a bug in the check itself, or a wholly unexpected failure
                failed += 1
                detail = traceback.format_exception_only(type(error), error)[-1].strip()
                print(f"FAIL {name}: {detail}", flush=True)
            else:
                passed += 1
                print(f"ok {name}", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
