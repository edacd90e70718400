#!/usr/bin/env python3
"""Proves the checklist against a real grpcio peer: starts grpcio_echo_server.py on a free port,
runs grpcio_echo_client.py against it, stops the server. Exit code: the client's.

It is also the template for running the checklist against the Breakwater echo server:
    python3 selftest.py --server-cmd 'swift run echo-server --port 0'
(any command that prints `PORT <n>` on stdout once serving and exits when its stdin closes or on SIGTERM).
"""

import argparse
import os
import shlex
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server-cmd", default=None,
                        help="server command line (default: the grpcio echo server in this directory)")
    parser.add_argument("--startup-timeout", type=float, default=60.0)
    args = parser.parse_args(argv)

    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    command = (shlex.split(args.server_cmd) if args.server_cmd
               else [sys.executable, os.path.join(HERE, "grpcio_echo_server.py"), "--port", "0"])
    server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        port = None
        import select
        ready, _, _ = select.select([server.stdout], [], [], args.startup_timeout)
        if ready:
            line = server.stdout.readline().strip()
            if line.startswith("PORT "):
                port = int(line.split()[1])
        if port is None:
            print(f"FAIL startup: the server did not print `PORT <n>` within {args.startup_timeout:.0f} s",
                  flush=True)
            return 1
        client = subprocess.run(
            [sys.executable, os.path.join(HERE, "grpcio_echo_client.py"), "--port", str(port)], env=env)
        return client.returncode
    finally:
        # Closing stdin asks the server to stop; SIGTERM if it does not, then SIGKILL.
        try:
            server.stdin.close()
        except OSError:
            pass
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        if server.returncode not in (0, None):
            print(f"note: the server exited with code {server.returncode}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
