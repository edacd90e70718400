#!/usr/bin/env python3
"""gRPC's interop test cases in grpcio: the reference interop client for Breakwater's interop-server.

Written for Breakwater's tests from doc/interop-test-descriptions.md, with grpc's interop flag names:

    grpcio_interop_client.py --server_host 127.0.0.1 --server_port N --test_case all
        [--use_tls=true --ca_file ca.pem --server_host_override name]

Prints `PASS <case>` or `FAIL <case>: <reason>` per case, then `N passed, N failed`; exits 1 on a failure.
grpcio does not expose a received message's compressed flag, so the compression cases check payloads.
--skip_compression_probe=true leaves out the first step of client_compressed_unary and
client_compressed_streaming (an uncompressed request that asks to be compressed must fail with
INVALID_ARGUMENT), for servers that cannot tell, such as grpcio_interop_server.py.
"""

import argparse
import os
import queue
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402

from testing_pb import empty_pb2, messages_pb2, test_pb2_grpc  # noqa: E402

INITIAL = ("x-grpc-test-echo-initial", "test_initial_metadata_value")
TRAILING = ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab")


class Failure(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise Failure(message)


def payload(size):
    return messages_pb2.Payload(type=messages_pb2.COMPRESSABLE, body=b"\0" * size)


def expect_payload(p, size):
    expect(len(p.body) == size, f"payload of {len(p.body)} bytes, expected {size}")
    expect(p.body == b"\0" * size, "payload bytes are not all zero")


def expect_status(code, call, message=None):
    try:
        result = call()
        if hasattr(result, "__iter__") and not isinstance(result, (bytes, str)):
            for _ in result:
                pass
    except grpc.RpcError as error:
        expect(error.code() == code, f"status {error.code()} ({error.details()!r}), expected {code}")
        if message is not None:
            expect(error.details() == message, f"status message {error.details()!r}, expected {message!r}")
        return
    raise Failure(f"the call succeeded, expected {code}")


def simple_request(response_size=314159, payload_size=271828, **fields):
    return messages_pb2.SimpleRequest(response_type=messages_pb2.COMPRESSABLE, response_size=response_size,
                                      payload=payload(payload_size), **fields)


class Blocking:
    """A request iterator fed through a queue; `None` ends it."""

    def __init__(self):
        self.q = queue.Queue()

    def put(self, item):
        self.q.put(item)

    def __iter__(self):
        return self

    def __next__(self):
        item = self.q.get()
        if item is None:
            raise StopIteration
        return item


def empty_unary(stub, _):
    expect(isinstance(stub.EmptyCall(empty_pb2.Empty()), empty_pb2.Empty), "not an Empty")


def large_unary(stub, _):
    expect_payload(stub.UnaryCall(simple_request()).payload, 314159)


SKIP_PROBE = False


def client_compressed_unary(stub, _):
    probe = simple_request(expect_compressed=messages_pb2.BoolValue(value=True))
    if not SKIP_PROBE:
        expect_status(grpc.StatusCode.INVALID_ARGUMENT, lambda: stub.UnaryCall(probe))
    expect_payload(stub.UnaryCall(probe, compression=grpc.Compression.Gzip).payload, 314159)
    plain = simple_request(expect_compressed=messages_pb2.BoolValue(value=False))
    expect_payload(stub.UnaryCall(plain).payload, 314159)


def server_compressed_unary(stub, _):
    for compressed in (True, False):
        request = simple_request(response_compressed=messages_pb2.BoolValue(value=compressed))
        expect_payload(stub.UnaryCall(request).payload, 314159)


def client_streaming(stub, _):
    sizes = [27182, 8, 1828, 45904]
    response = stub.StreamingInputCall(iter([messages_pb2.StreamingInputCallRequest(payload=payload(s)) for s in sizes]))
    expect(response.aggregated_payload_size == 74922, f"aggregated {response.aggregated_payload_size}, expected 74922")


def client_compressed_streaming(stub, _):
    first = messages_pb2.StreamingInputCallRequest(payload=payload(27182),
                                                   expect_compressed=messages_pb2.BoolValue(value=True))
    if not SKIP_PROBE:
        expect_status(grpc.StatusCode.INVALID_ARGUMENT, lambda: stub.StreamingInputCall(iter([first])))
    second = messages_pb2.StreamingInputCallRequest(payload=payload(45904),
                                                    expect_compressed=messages_pb2.BoolValue(value=False))
    response = stub.StreamingInputCall(iter([first, second]), compression=grpc.Compression.Gzip)
    expect(response.aggregated_payload_size == 73086, f"aggregated {response.aggregated_payload_size}, expected 73086")


def server_streaming(stub, _, sizes=(31415, 9, 2653, 58979), compressed=False):
    request = messages_pb2.StreamingOutputCallRequest(response_parameters=[
        messages_pb2.ResponseParameters(size=s, **({"compressed": messages_pb2.BoolValue(value=i == 0)} if compressed else {}))
        for i, s in enumerate(sizes)])
    received = [len(r.payload.body) for r in stub.StreamingOutputCall(request)]
    expect(received == list(sizes), f"response sizes {received}, expected {list(sizes)}")


def server_compressed_streaming(stub, channel):
    server_streaming(stub, channel, sizes=(31415, 92653), compressed=True)


def ping_pong(stub, _):
    response_sizes = [31415, 9, 2653, 58979]
    payload_sizes = [27182, 8, 1828, 45904]
    requests = Blocking()
    call = stub.FullDuplexCall(requests)
    received = []
    for r, p in zip(response_sizes, payload_sizes):
        requests.put(messages_pb2.StreamingOutputCallRequest(
            response_parameters=[messages_pb2.ResponseParameters(size=r)], payload=payload(p)))
        received.append(len(next(call).payload.body))
    requests.put(None)
    rest = list(call)
    expect(received == response_sizes and not rest, f"response sizes {received + [len(x.payload.body) for x in rest]}")


def empty_stream(stub, _):
    responses = list(stub.FullDuplexCall(iter([])))
    expect(not responses, f"{len(responses)} responses, expected none")


def timeout_on_sleeping_server(stub, _):
    requests = Blocking()
    requests.put(messages_pb2.StreamingOutputCallRequest(payload=payload(27182)))
    try:
        expect_status(grpc.StatusCode.DEADLINE_EXCEEDED, lambda: stub.FullDuplexCall(requests, timeout=0.001))
    finally:
        requests.put(None)


def cancel_after_begin(stub, _):
    requests = Blocking()
    future = stub.StreamingInputCall.future(requests)
    time.sleep(0.05)
    future.cancel()
    requests.put(None)
    expect(future.cancelled(), "the call was not cancelled")
    expect(future.code() == grpc.StatusCode.CANCELLED, f"status {future.code()}, expected CANCELLED")


def cancel_after_first_response(stub, _):
    requests = Blocking()
    call = stub.FullDuplexCall(requests)
    requests.put(messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=31415)], payload=payload(27182)))
    next(call)
    call.cancel()
    requests.put(None)
    expect(call.code() == grpc.StatusCode.CANCELLED, f"status {call.code()}, expected CANCELLED")


def _status_case(stub, message, streaming):
    status = messages_pb2.EchoStatus(code=2, message=message)
    expect_status(grpc.StatusCode.UNKNOWN, lambda: stub.UnaryCall(messages_pb2.SimpleRequest(response_status=status)), message)
    if streaming:
        expect_status(grpc.StatusCode.UNKNOWN,
                      lambda: stub.FullDuplexCall(iter([messages_pb2.StreamingOutputCallRequest(response_status=status)])),
                      message)


def status_code_and_message(stub, _):
    _status_case(stub, "test status message", True)


def special_status_message(stub, _):
    _status_case(stub, "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n", False)


def custom_metadata(stub, _):
    metadata = (INITIAL, TRAILING)
    response, call = stub.UnaryCall.with_call(simple_request(), metadata=metadata)
    expect_payload(response.payload, 314159)
    check_echoed(call.initial_metadata(), call.trailing_metadata())
    call = stub.FullDuplexCall(iter([messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=314159)], payload=payload(271828))]), metadata=metadata)
    sizes = [len(r.payload.body) for r in call]
    expect(sizes == [314159], f"response sizes {sizes}")
    check_echoed(call.initial_metadata(), call.trailing_metadata())


def check_echoed(initial, trailing):
    expect(INITIAL in list(initial), f"initial metadata {initial}")
    expect(TRAILING in list(trailing), f"trailing metadata {trailing}")


def unimplemented_method(stub, _):
    expect_status(grpc.StatusCode.UNIMPLEMENTED, lambda: stub.UnimplementedCall(empty_pb2.Empty()))


def unimplemented_service(_, channel):
    stub = test_pb2_grpc.UnimplementedServiceStub(channel)
    expect_status(grpc.StatusCode.UNIMPLEMENTED, lambda: stub.UnimplementedCall(empty_pb2.Empty()))


CASES = [empty_unary, large_unary, client_compressed_unary, server_compressed_unary, client_streaming,
         client_compressed_streaming, server_streaming, server_compressed_streaming, ping_pong, empty_stream,
         timeout_on_sleeping_server, cancel_after_begin, cancel_after_first_response, status_code_and_message,
         special_status_message, custom_metadata, unimplemented_method, unimplemented_service]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server_host", default="localhost")
    parser.add_argument("--server_port", type=int, required=True)
    parser.add_argument("--test_case", default="large_unary")
    parser.add_argument("--use_tls", default="false")
    parser.add_argument("--use_test_ca", default="false")
    parser.add_argument("--ca_file")
    parser.add_argument("--server_host_override")
    parser.add_argument("--skip_compression_probe", default="false")
    args = parser.parse_args()
    global SKIP_PROBE
    SKIP_PROBE = args.skip_compression_probe.lower() == "true"

    by_name = {case.__name__: case for case in CASES}
    names = list(by_name) if args.test_case == "all" else args.test_case.split(",")
    unknown = [n for n in names if n not in by_name]
    if unknown:
        parser.error(f"unknown test case(s): {', '.join(unknown)}")

    target = f"{args.server_host}:{args.server_port}"
    if args.use_tls.lower() == "true":
        roots = None
        if args.ca_file:
            with open(args.ca_file, "rb") as f:
                roots = f.read()
        options = [("grpc.ssl_target_name_override", args.server_host_override)] if args.server_host_override else []
        channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=roots), options=options)
    else:
        channel = grpc.insecure_channel(target)
    stub = test_pb2_grpc.TestServiceStub(channel)

    passed = failed = 0
    for name in names:
        start = time.monotonic()
        try:
            by_name[name](stub, channel)
            passed += 1
            print(f"PASS {name} ({(time.monotonic() - start) * 1000:.0f} ms)", flush=True)
        except Exception as error:  # noqa: BLE001 -- every failure is reported, not raised
            failed += 1
            detail = f"{error.code()} {error.details()!r}" if isinstance(error, grpc.RpcError) else str(error)
            print(f"FAIL {name}: {type(error).__name__}: {detail}", flush=True)
    channel.close()
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
