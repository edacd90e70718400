#!/usr/bin/env python3
"""Asks a server's reflection service with grpcio-reflection's client (v1alpha) and a plain v1 stub.

    grpcio_reflection_client.py --port N --service echo.Echo [--service ...]
        [--symbol grpc.testing.SimpleRequest=grpc/testing/messages.proto ...]
        [--method grpc.testing.TestService.UnaryCall=grpc.testing.SimpleRequest ...]

Checks that both versions list each --service; that the file containing each --symbol is the one
named, fetched by symbol and by name; that each --method resolves, through a descriptor pool fed only
by reflection, to a method with that input type (so every import came along); and that an unknown
symbol is NOT_FOUND. Prints `ok <check>` or `FAIL <check>: <reason>`, then `N passed, N failed`.
The v1 stubs are generated at run time from /usr/share/grpc-proto (or $GRPC_PROTO).
"""

import argparse
import atexit
import importlib
import os
import shutil
import sys
import tempfile

sys.dont_write_bytecode = True

import grpc  # noqa: E402
from google.protobuf import descriptor_pool  # noqa: E402
from google.protobuf.descriptor_pb2 import FileDescriptorProto  # noqa: E402
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase  # noqa: E402
from grpc_tools import protoc  # noqa: E402


def v1_stubs():
    """reflection_pb2 and reflection_pb2_grpc for grpc.reflection.v1, generated into a temporary folder
    under a Python package name grpcio's own `grpc` does not shadow."""
    root = os.environ.get("GRPC_PROTO", "/usr/share/grpc-proto")
    out = tempfile.mkdtemp(prefix="breakwater-reflection-pb-")
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    os.makedirs(os.path.join(out, "src", "reflection_v1"))
    shutil.copy(os.path.join(root, "grpc/reflection/v1/reflection.proto"), os.path.join(out, "src", "reflection_v1"))
    rc = protoc.main(["grpc_tools.protoc", f"-I{os.path.join(out, 'src')}", f"--python_out={out}",
                      f"--grpc_python_out={out}", "reflection_v1/reflection.proto"])
    if rc != 0:
        raise RuntimeError("grpc_tools.protoc failed on grpc/reflection/v1/reflection.proto")
    sys.path.insert(0, out)
    return (importlib.import_module("reflection_v1.reflection_pb2"),
            importlib.import_module("reflection_v1.reflection_pb2_grpc"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--service", action="append", default=[])
    parser.add_argument("--symbol", action="append", default=[])
    parser.add_argument("--method", action="append", default=[])
    args = parser.parse_args()

    channel = grpc.insecure_channel(f"127.0.0.1:{args.port}")
    database = ProtoReflectionDescriptorDatabase(channel)
    pool = descriptor_pool.DescriptorPool(database)
    pb2, pb2_grpc = v1_stubs()
    v1 = pb2_grpc.ServerReflectionStub(channel)
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

    def v1_ask(**request):
        responses = list(v1.ServerReflectionInfo(iter([pb2.ServerReflectionRequest(**request)]), timeout=10))
        expect(len(responses) == 1, f"{len(responses)} responses")
        return responses[0]

    def list_v1alpha():
        services = set(database.get_services())
        missing = [s for s in args.service if s not in services]
        expect(not missing, f"not listed: {missing} (listed: {sorted(services)})")

    def list_v1():
        services = {s.name for s in v1_ask(list_services="").list_services_response.service}
        missing = [s for s in args.service if s not in services]
        expect(not missing, f"not listed: {missing} (listed: {sorted(services)})")

    def symbol_v1alpha(symbol, filename):
        found = database.FindFileContainingSymbol(symbol)
        expect(found.name == filename, f"{symbol} is in {found.name}")
        expect(database.FindFileByName(filename).name == filename, "by name")

    def symbol_v1(symbol, filename):
        response = v1_ask(file_containing_symbol=symbol)
        files = [FileDescriptorProto.FromString(b) for b in response.file_descriptor_response.file_descriptor_proto]
        expect(files and files[0].name == filename, f"files {[f.name for f in files]}")
        by_name = v1_ask(file_by_filename=filename).file_descriptor_response.file_descriptor_proto
        expect(FileDescriptorProto.FromString(by_name[0]).name == filename, "by name")

    def method(full_name, input_type):
        service_name, _, method_name = full_name.rpartition(".")
        service = pool.FindServiceByName(service_name)
        found = service.methods_by_name[method_name]
        expect(found.input_type.full_name == input_type, f"input {found.input_type.full_name}")

    def unknown_symbol():
        response = v1_ask(file_containing_symbol="no.such.Symbol")
        expect(response.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0],
               f"error {response.error_response}")
        try:
            database.FindFileContainingSymbol("no.such.Symbol")
        except KeyError:
            return
        raise AssertionError("v1alpha found an unknown symbol")

    check("list-v1alpha", list_v1alpha)
    check("list-v1", list_v1)
    for item in args.symbol:
        symbol, _, filename = item.partition("=")
        check(f"symbol-v1alpha {symbol}", lambda: symbol_v1alpha(symbol, filename))
        check(f"symbol-v1 {symbol}", lambda: symbol_v1(symbol, filename))
    for item in args.method:
        full_name, _, input_type = item.partition("=")
        check(f"method {full_name}", lambda: method(full_name, input_type))
    check("unknown-symbol", unknown_symbol)
    channel.close()
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed", flush=True)
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
