"""Generates the Python stubs for Protos/echo.proto at import time and exposes them.

The stubs are written to a temporary directory (never into the repository) with
grpc_tools.protoc, so they always match the .proto in this checkout.

    from echo_pb import echo_pb2, echo_pb2_grpc
"""

import atexit
import importlib
import os
import shutil
import sys
import tempfile

from grpc_tools import protoc

_HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.normpath(os.path.join(_HERE, "..", "..", "Protos"))
PROTO_FILE = os.path.join(PROTO_DIR, "echo.proto")


def _generate():
    out = tempfile.mkdtemp(prefix="breakwater-echo-pb-")
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    # protoc's own include directory, for well-known types should the proto ever use them.
    well_known = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rc = protoc.main([
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        PROTO_FILE,
    ])
    if rc != 0:
        raise RuntimeError(f"grpc_tools.protoc failed with exit code {rc} for {PROTO_FILE}")
    sys.path.insert(0, out)
    try:
        pb2 = importlib.import_module("echo_pb2")
        pb2_grpc = importlib.import_module("echo_pb2_grpc")
    finally:
        sys.path.remove(out)
    return pb2, pb2_grpc


echo_pb2, echo_pb2_grpc = _generate()

__all__ = ["echo_pb2", "echo_pb2_grpc", "PROTO_FILE"]
