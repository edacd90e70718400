"""Generates the Python stubs for gRPC's interop protos (grpc.testing: test.proto, messages.proto,
empty.proto) at import time and exposes them.

The protos come from Debian's grpc-proto package (/usr/share/grpc-proto, or $GRPC_PROTO). They are
copied to a temporary directory as `interop_testing/*.proto`, their imports rewritten to match, because
a Python package named `grpc.testing` would be shadowed by grpcio's own `grpc`; the proto package
(and so every name on the wire) stays `grpc.testing`. Nothing is written into the repository.

    from testing_pb import messages_pb2, empty_pb2, test_pb2_grpc
"""

import atexit
import importlib
import os
import shutil
import sys
import tempfile

from grpc_tools import protoc

PROTO_ROOT = os.environ.get("GRPC_PROTO", "/usr/share/grpc-proto")
FILES = ["grpc/testing/empty.proto", "grpc/testing/messages.proto", "grpc/testing/test.proto"]


def _generate():
    out = tempfile.mkdtemp(prefix="breakwater-testing-pb-")
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    src = os.path.join(out, "src")
    os.makedirs(os.path.join(src, "interop_testing"))
    renamed = []
    for name in FILES:
        with open(os.path.join(PROTO_ROOT, name), encoding="utf-8") as f:
            text = f.read().replace('import "grpc/testing/', 'import "interop_testing/')
        target = "interop_testing/" + os.path.basename(name)
        with open(os.path.join(src, target), "w", encoding="utf-8") as f:
            f.write(text)
        renamed.append(target)
    well_known = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rc = protoc.main(["grpc_tools.protoc", f"-I{src}", f"-I{well_known}",
                      f"--python_out={out}", f"--grpc_python_out={out}"] + renamed)
    if rc != 0:
        raise RuntimeError(f"grpc_tools.protoc failed ({rc}) on {FILES} under {PROTO_ROOT} "
                           "(is grpc-proto installed? apt-get install grpc-proto)")
    sys.path.insert(0, out)
    return out


_generate()
empty_pb2 = importlib.import_module("interop_testing.empty_pb2")
messages_pb2 = importlib.import_module("interop_testing.messages_pb2")
test_pb2_grpc = importlib.import_module("interop_testing.test_pb2_grpc")
