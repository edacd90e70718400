#!/usr/bin/env python3
"""The hardening suite: replays attacks against a real echo-server (and malicious servers against
echo-client) and checks, for each case, that the process under attack survives, that an unrelated
client is served during the attack within a latency bound, that the attacked process's memory stays
within a budget, and the case's own expected behaviour. See README.md beside this file.

    python3 Tests/Hardening/run.py [--server PATH] [--client PATH] [--only NAME ...] [--list] [knobs]

Prints one line per case, then `N passed, N failed, N skipped`; exits 1 when any case failed.
"""

import argparse
import ctypes
import json
import os
import resource
import select
import shlex
import shutil
import signal
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import attacks as A  # noqa: E402

# The echo-server flags the hardened server is expected to have. A case that needs one the binary does
# not list in --help runs without it and reports its timing or cap assertion as SKIP.
FLAG_PREFACE_TIMEOUT = "--preface-timeout-ms"
FLAG_MAX_CONNECTIONS = "--max-connections"
FLAG_MAX_CONCURRENT_STREAMS = "--max-concurrent-streams"
FLAG_TLS_HANDSHAKE_TIMEOUT = "--tls-handshake-timeout-ms"
OPTIONAL_FLAGS = (FLAG_PREFACE_TIMEOUT, FLAG_MAX_CONNECTIONS, FLAG_MAX_CONCURRENT_STREAMS, FLAG_TLS_HANDSHAKE_TIMEOUT)

CHILD_ENV = dict(os.environ, SWIFT_BACKTRACE="enable=no")  # a crashing Swift binary must not stall the run
CLK_TCK = os.sysconf("SC_CLK_TCK")

# MARK: Child processes (all SIGKILLed and reaped on the way out, whatever happens)

_children = []
_libc = ctypes.CDLL(None, use_errno=True)


def _child_setup(nofile=None):
    def setup():
        _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the driver even if it is SIGKILLed
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    return setup


def spawn(cmd, nofile=None, **kw):
    p = subprocess.Popen(cmd, env=CHILD_ENV, preexec_fn=_child_setup(nofile), **kw)
    _children.append(p)
    return p


def kill(p):
    if p is None:
        return
    if p.returncode is None:
        try:
            os.kill(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=10)
        except (subprocess.TimeoutExpired, ChildProcessError):
            pass
    if p in _children:
        _children.remove(p)


def kill_all():
    for p in list(_children):
        kill(p)


def describe_exit(code):
    if code is None:
        return "running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name} (shell exit {128 - code})"
    return f"exited with status {code}"


class ProcStats:
    """Figures of a live process from /proc."""

    def __init__(self, pid):
        self.pid = pid

    def mem_kb(self):
        rss = hwm = 0
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
                    elif line.startswith("VmHWM:"):
                        hwm = int(line.split()[1])
        except OSError:
            pass
        return rss, hwm

    def cpu_s(self):
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, IndexError):
            return None

    def sockets(self):
        n = 0
        try:
            for fd in os.listdir(f"/proc/{self.pid}/fd"):
                try:
                    if os.readlink(f"/proc/{self.pid}/fd/{fd}").startswith("socket:"):
                        n += 1
                except OSError:
                    pass
        except OSError:
            return None
        return n

    def fds(self):
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return None


class Server:
    """An echo-server child on a free port (`--port 0 --announce-port`)."""

    def __init__(self, binary, flags=(), nofile=None, log_dir=None, name="server", announce=True):
        self.log_path = os.path.join(log_dir, f"{name}.log") if log_dir else os.devnull
        self.log = open(self.log_path, "wb")
        self.cmd = [*binary, "--port", "0", *(["--announce-port"] if announce else []), *flags]
        self.proc = spawn(self.cmd, nofile=nofile, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.log)
        self.stats = ProcStats(self.proc.pid)
        self.port = None
        deadline = time.monotonic() + 15
        line = b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                line = self.proc.stdout.readline()
                break
            if self.proc.poll() is not None:
                break
        if not line.startswith(b"PORT "):
            code = self.proc.poll()
            kill(self.proc)
            self.log.close()
            tail = open(self.log_path, "rb").read()[-400:].decode(errors="replace") if log_dir else ""
            raise HarnessError(f"echo-server did not start ({describe_exit(code)}): {' '.join(self.cmd)}: {tail.strip()}")
        self.port = int(line.split()[1])
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        try:
            for _ in self.proc.stdout:
                pass
        except (OSError, ValueError):
            pass

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        kill(self.proc)
        self.log.close()


class HarnessError(Exception):
    """The harness could not run the case (not a finding about the server)."""


# MARK: The probe: an unrelated client's unary calls, from another process (no GIL shared with attacks)

class Probe:
    def __init__(self, port, mode="fresh", tls_ca=None, interval_ms=50):
        cmd = [sys.executable, os.path.join(HERE, "attacks.py"), "probe", "--port", str(port), "--mode", mode,
               "--interval-ms", str(interval_ms)]
        if tls_ca:
            cmd += ["--tls-ca", tls_ca]
        self.mode = mode
        self.proc = spawn(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.lock = threading.Lock()
        self.done = []        # (start, end, ok, why)
        self.in_flight = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                if "e" in r:
                    self.done.append((r["s"], r["e"], r["ok"], r["why"]))
                    self.in_flight = None
                else:
                    self.in_flight = r["s"]

    def count(self):
        with self.lock:
            return len(self.done)

    def wait_count(self, n, timeout):
        deadline = time.monotonic() + timeout
        while self.count() < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.count() >= n

    def baseline(self, warmup=3, n=10):
        if not self.wait_count(warmup + n, 20):
            raise HarnessError(f"probe baseline: only {self.count()} of {warmup + n} calls finished in 20 s")
        with self.lock:
            calls = self.done[warmup:warmup + n]
        bad = [c for c in calls if not c[2]]
        if bad:
            raise HarnessError(f"probe baseline: a call failed before any attack: {bad[0][3]}")
        return statistics.median((e - s) * 1000 for s, e, _, _ in calls)

    def window(self, t0, t1, limit_ms):
        """The calls that overlapped [t0, t1]; waits (up to the limit and a bit) for one still running at
        t1, and counts it as lasting until now if it never finishes."""
        deadline = time.monotonic() + limit_ms / 1000 + 1.0
        while time.monotonic() < deadline:
            with self.lock:
                running = self.in_flight
            if running is None or running > t1:
                break
            time.sleep(0.01)
        now = time.monotonic()
        with self.lock:
            calls = [c for c in self.done if c[0] <= t1 and c[1] >= t0]
            if self.in_flight is not None and self.in_flight <= t1:
                calls.append((self.in_flight, now, False,
                              f"no answer after {(now - self.in_flight) * 1000:.0f} ms (still waiting)"))
        return calls

    def stop(self):
        kill(self.proc)


# MARK: Cases

class Context:
    """What a case gets: the server (or nothing for client cases), the knobs, and where to record checks."""

    def __init__(self, args, flags, case, log_dir):
        self.args = args
        self.flags = flags
        self.case = case
        self.log_dir = log_dir
        self.server = None
        self.port = None
        self.tls = None          # ssl.SSLContext for clients of a TLS server
        self.tls_ca = None
        self.checks = []         # (ok, text)
        self.skips = []
        self.notes = []
        self.figures = {}
        self.conns = []
        self.sockets = []
        self.probe_override = None  # (t0, t1) when the case itself sets the attack window

    def check(self, ok, text):
        self.checks.append((bool(ok), text))
        return ok

    def skip(self, text):
        self.skips.append(text)

    def note(self, text):
        self.notes.append(text)

    def has(self, flag):
        return flag in self.flags

    def connect(self, **kw):
        c = A.H2Conn(self.port, tls=self.tls, **kw)
        self.conns.append(c)
        return c

    def raw_socket(self, connect=True, timeout=2.0):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sockets.append(s)
        if connect:
            s.settimeout(timeout)
            s.connect(("127.0.0.1", self.port))
        return s

    def close_all(self):
        for c in self.conns:
            c.close()
        for s in self.sockets:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            except OSError:
                pass
        self.conns.clear()
        self.sockets.clear()

    def cpu(self):
        return self.server.stats.cpu_s()


class Case:
    """A server case: `fn(ctx)` attacks; `server_flags(args, flags)` adds echo-server flags; `nofile` sets
    the server's RLIMIT_NOFILE; `probe` is "fresh" (a new connection per probe call) or "persistent" (one
    connection opened before the attack, for cases where new connections may rightly be refused)."""

    def __init__(self, name, row, fn, server_flags=None, nofile=None, probe="fresh", rss_budget_mb=None, tls=False):
        self.name, self.row, self.fn = name, row, fn
        self.server_flags = server_flags or (lambda args, flags: [])
        self.nofile = nofile
        self.probe = probe
        self.rss_budget_mb = rss_budget_mb or (lambda args: args.rss_budget_mb)
        self.tls = tls


CASES = []


def case(name, row, **kw):
    def register(fn):
        CASES.append(Case(name, row, fn, **kw))
        return fn
    return register


def expect_stream(ctx, st, allowed, what):
    """Checks the outcome of a stream against `allowed`: a set of ("grpc", code), ("http", status),
    ("rst", code), ("rst", "any")."""
    got = []
    if st.rst is not None:
        got += [("rst", st.rst), ("rst", "any")]
    if st.http_status is not None and st.http_status != 200:
        got.append(("http", st.http_status))
    if st.grpc_status is not None:
        got.append(("grpc", st.grpc_status))
    return ctx.check(any(g in allowed for g in got), f"{what}: expected {describe_allowed(allowed)}, got {st.describe()}")


def describe_allowed(allowed):
    out = []
    for kind, v in sorted(allowed, key=str):
        if kind == "grpc":
            out.append(f"grpc-status {v} ({A.grpc_name(v)})")
        elif kind == "http":
            out.append(f"HTTP {v}")
        elif v == "any":
            out.append("RST_STREAM (any code)")
        else:
            out.append(f"RST_STREAM {A.error_name(v)}")
    return " or ".join(out)


def unary(ctx, extra=(), path="/echo.Echo/Get", text=b"x", content_type="application/grpc", timeout=3.0):
    """One call on a fresh connection; returns (stream, connection)."""
    c = ctx.connect()
    c.start()
    block = A.request_block(path, extra, content_type=content_type, scheme_https=ctx.tls is not None)
    sid = c.send_headers(block)
    c.send(A.data_frames(sid, A.grpc_message(A.echo_request(text)), end_stream=True))
    st = c.streams[sid]
    c.run_until(lambda: st.done or c.goaway is not None, timeout)
    return st, c


# --- Row 1: SIGPIPE

@case("close-at-once", 1)
def close_at_once(ctx):
    """20x: preface + empty SETTINGS, then close at once (half by FIN, half by RST)."""
    for i in range(20):
        s = ctx.raw_socket()
        s.sendall(A.PREFACE + A.settings_frame())
        if i % 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        ctx.sockets.remove(s)
    time.sleep(0.5)
    ctx.note("20 connections closed right after the preface")


@case("slow-reader-reset", 1)
def slow_reader_reset(ctx):
    """Up to 3 rounds of 6 parallel Expand calls with ~2.2 MB responses and huge windows, never read; after
    50-300 ms half send RST_STREAM, then each closes mid-response (FIN when its buffer is empty, else RST)."""
    text = b" ".join([b"word"] * 200_000)

    def reader(k):
        c = A.H2Conn(ctx.port)
        ctx.conns.append(c)
        c.auto_window = False
        c.start([(A.INITIAL_WINDOW_SIZE, 0x7FFFFFFF)])
        c.send(A.window_update(0, 0x7FFFFFFF - 65535))
        A.wait_for_settings(c, 1.0)
        c.run_until(lambda: c.conn_send_window >= len(text) + 64, 0.5)
        sid = c.send_headers(A.request_block("/echo.Echo/Expand"))
        c.send_data(sid, A.grpc_message(A.echo_request(text)), end_stream=True, deadline=time.monotonic() + 2)
        time.sleep(0.05 * (k + 1))  # the server fills the socket buffers and waits for them to drain
        if k % 2:
            c.send(A.rst_stream(sid, A.CANCEL))
        # Take what is buffered (briefly: the server refills it), then close: a FIN when nothing is left
        # unread, so the server's next writes meet a closed socket.
        c.sock.setblocking(False)
        end = time.monotonic() + 0.03
        try:
            while time.monotonic() < end and c.sock.recv(1 << 22):
                pass
        except OSError:
            pass
        c.sock.close()

    rounds, t0 = 0, time.monotonic()
    while rounds < 3 and time.monotonic() - t0 < 3.0:
        rounds += 1
        threads = [threading.Thread(target=reader, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(0.1)
        if not ctx.server.alive():
            break
    ctx.note(f"{rounds} round(s) of 6 slow readers closed mid-response")


# --- Row 2: HPACK bomb

def bomb_request(stream_id):
    block, refs = A.hpack_bomb_block(A.request_block())
    return A.header_frames(stream_id, block), refs, len(block)


BOMB_OK = {("rst", "any"), ("grpc", 8), ("http", 431)}


@case("hpack-bomb", 2)
def hpack_bomb(ctx):
    """10 request header blocks of 147,456 bytes (one 4 KiB entry referenced ~143k times), one at a time."""
    n_blocks, outcomes, goaways = 10, [], 0
    cpu0 = ctx.cpu()
    c = None
    for _ in range(n_blocks):
        if c is None or c.dead or c.goaway is not None:
            c = ctx.connect()
            c.start()
        sid = c.new_stream_id()
        frames, refs, size = bomb_request(sid)
        c.send(frames + A.data_frames(sid, A.grpc_message(A.echo_request(b"x")), end_stream=True))
        st = c.streams[sid]
        c.run_until(lambda: st.done or c.goaway is not None or c.closed, 5.0)
        if c.goaway is not None or (c.closed and not st.done):
            goaways += 1
            outcomes.append(f"connection: {c.describe()}")
        else:
            expect_stream(ctx, st, BOMB_OK, f"bomb block on stream {sid}")
            outcomes.append(st.describe())
    cpu = ctx.cpu() - cpu0
    per_block_ms = cpu / n_blocks * 1000
    ctx.figures["cpu/block"] = f"{per_block_ms:.0f} ms"
    ctx.check(per_block_ms <= ctx.args.bomb_cpu_ms,
              f"server CPU per bomb block {per_block_ms:.0f} ms > {ctx.args.bomb_cpu_ms} ms")
    ctx.note(f"{n_blocks} blocks of {size} B ({refs} refs, {refs * 4 // 1024} MiB decoded); first outcome: {outcomes[0]}"
             + (f"; {goaways} GOAWAY/closed" if goaways else ""))


@case("hpack-bomb-pipelined", 2)
def hpack_bomb_pipelined(ctx):
    """4 connections, each pipelining bomb blocks (new stream each) for 2 s without waiting."""
    results = []

    def attacker():
        c = A.H2Conn(ctx.port)
        ctx.conns.append(c)
        c.start()
        sent = 0
        deadline = time.monotonic() + 2.0
        c.sock.settimeout(0.5)
        while time.monotonic() < deadline and not c.dead and c.goaway is None and sent < 40:
            sid = c.new_stream_id()
            frames, _, _ = bomb_request(sid)
            if not c.send(frames + A.data_frames(sid, A.grpc_message(A.echo_request(b"x")), end_stream=True)):
                break
            sent += 1
            c.poll(0)
        c.run_until(lambda: c.closed or c.goaway is not None or all(s.done for s in c.streams.values()), 1.0)
        results.append((sent, c))

    threads = [threading.Thread(target=attacker) for _ in range(4)]
    cpu0 = ctx.cpu()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu = ctx.cpu() - cpu0
    total = sum(n for n, _ in results)
    served_ok = unanswered = wrong = 0
    for sent, c in results:
        first = c.streams.get(1)
        served_ok += sum(1 for s in c.streams.values() if s.grpc_status == 0)
        if c.goaway is not None or c.closed or first is None:
            continue  # the connection was refused as a whole: acceptable
        if not first.done:
            unanswered += 1
        elif not (first.rst is not None or first.grpc_status == 8 or first.http_status == 431):
            wrong += 1
    ctx.check(unanswered == 0, f"{unanswered} of 4 connections had no outcome for their first block 1 s after the "
                               f"attack (expected {describe_allowed(BOMB_OK)}, or GOAWAY)")
    ctx.check(wrong == 0, f"{wrong} of 4 connections: first block answered otherwise than {describe_allowed(BOMB_OK)}")
    ctx.check(served_ok == 0, f"{served_ok} bomb requests were served with grpc-status 0")
    ctx.figures["blocks"] = str(total)
    ctx.note(f"4 connections sent {total} blocks in 2 s; server CPU {cpu:.2f} s; outcomes: "
             + "; ".join(f"{n} sent, {c.describe()}" for n, c in results))


# --- Row 3: gzip inflation on a bidi stream nobody reads

@case("gzip-inflate-bidi", 3)
def gzip_inflate_bidi(ctx):
    """Update (bidi) with grpc-encoding gzip: ~4 KB messages that inflate to ~4 MB each, 1 MB in all;
    the echoes are never read (no WINDOW_UPDATE for them)."""
    bomb = A.gzip_bomb((4 << 20) - 64)
    msg = A.grpc_message(bomb, compressed=True)
    c = ctx.connect()
    c.auto_window = False
    c.keep_data = False
    c.start()
    A.wait_for_settings(c)
    sid = c.send_headers(A.request_block("/echo.Echo/Update", [("grpc-encoding", "gzip")]))
    st = c.streams[sid]
    total, goal = 0, ctx.args.gzip_send_kb * 1024
    deadline = time.monotonic() + 4.0
    throttled = False
    while total < goal and time.monotonic() < deadline:
        n = c.send_data(sid, msg, deadline=time.monotonic() + 1.0)
        total += n
        c.poll(0)
        if n < len(msg):
            throttled = not (c.closed or st.rst is not None or st.done)
            break
    c.run_until(lambda: st.done or c.closed, 0.5)
    time.sleep(0.3)
    if st.rst is not None or st.done:
        how = f"stream ended: {st.describe()}"
        if st.grpc_status is not None:
            ctx.check(st.grpc_status == 8, f"stream ended with grpc-status {st.grpc_status}, expected 8 (RESOURCE_EXHAUSTED)")
    elif c.closed or c.goaway:
        how = f"connection: {c.describe()}"
    elif throttled:
        how = f"the server returned no window after {total // 1024} KiB (flow control holds the sender)"
    else:
        how = f"all {total // 1024} KiB accepted"
    ctx.figures["sent"] = f"{total // 1024} KiB"
    ctx.note(f"{len(bomb)} B per message, each inflating to 4 MiB ({total // len(msg)} messages, "
             f"{total // len(msg) * 4} MiB inflated if all were decoded); {how}")


# --- Row 4: malicious servers against echo-client: CLIENT_CASES, below

# --- Row 5: connections that never finish the preface; connection cap

def hold_and_watch(ctx, socks, timeout):
    """Waits until the server has closed every socket in `socks` or `timeout` passes; returns the close
    times (seconds since each socket connected, None when still open)."""
    ep = select.epoll()
    opened = {}
    for s, t in socks:
        ep.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLHUP)
        opened[s.fileno()] = t
    by_fd = {s.fileno(): s for s, _ in socks}
    closed = {}
    deadline = time.monotonic() + timeout
    while len(closed) < len(socks) and time.monotonic() < deadline:
        for fd, _ in ep.poll(0.05):
            if fd in closed:
                continue
            try:
                data = by_fd[fd].recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            except BlockingIOError:
                continue
            if not data:
                closed[fd] = time.monotonic() - opened[fd]
                ep.unregister(fd)
    ep.close()
    return [closed.get(s.fileno()) for s, _ in socks]


def open_many(ctx, n, payload=b""):
    socks = []
    for _ in range(n):
        s = ctx.raw_socket(connect=False)
        s.setblocking(True)
        s.settimeout(2.0)
        try:
            s.connect(("127.0.0.1", ctx.port))
        except OSError as e:
            ctx.note(f"connect {len(socks) + 1} failed: {e}")
            break
        t = time.monotonic()
        if payload:
            s.sendall(payload)
        s.setblocking(False)
        socks.append((s, t))
    return socks


def preface_flags(args, flags):
    return [FLAG_PREFACE_TIMEOUT, str(args.preface_timeout_ms)] if FLAG_PREFACE_TIMEOUT in flags else []


def check_closed_by_deadline(ctx, times, what):
    deadline_s = (ctx.args.preface_timeout_ms + ctx.args.close_slack_ms) / 1000
    still = sum(1 for t in times if t is None)
    late = sum(1 for t in times if t is not None and t > deadline_s)
    worst = max((t for t in times if t is not None), default=None)
    ctx.figures["closed"] = f"{len(times) - still}/{len(times)}" + (f" by {worst:.2f} s" if worst is not None else "")
    if not ctx.has(FLAG_PREFACE_TIMEOUT):
        ctx.skip(f"echo-server has no {FLAG_PREFACE_TIMEOUT}: closing by the deadline not checked "
                 f"({len(times) - still}/{len(times)} closed by the server)")
        return
    ctx.check(still == 0 and late == 0,
              f"{what}: {still} of {len(times)} still open and {late} closed late; expected all closed within "
              f"{ctx.args.preface_timeout_ms} ms + {ctx.args.close_slack_ms} ms slack")


@case("no-preface-2000", 5, server_flags=preface_flags, nofile=8192)
def no_preface(ctx):
    """2,000 TCP connections that never send a byte."""
    socks = open_many(ctx, 2000)
    ctx.check(len(socks) == 2000, f"only {len(socks)} of 2000 connections could be opened")
    wait = (ctx.args.preface_timeout_ms + ctx.args.close_slack_ms) / 1000 if ctx.has(FLAG_PREFACE_TIMEOUT) else 1.5
    times = hold_and_watch(ctx, socks, wait)
    check_closed_by_deadline(ctx, times, "silent connections")


@case("slowloris-preface", 5, server_flags=preface_flags)
def slowloris(ctx):
    """100 connections sending the preface at 1 byte per second each."""
    socks = open_many(ctx, 100)
    wait = (ctx.args.preface_timeout_ms + ctx.args.close_slack_ms) / 1000 if ctx.has(FLAG_PREFACE_TIMEOUT) else 2.0
    deadline = time.monotonic() + wait
    sent = 0
    closed = {}
    i = 0
    opened = dict(socks)
    while time.monotonic() < deadline and len(closed) < len(socks):
        for s, t in socks:
            if s.fileno() in closed or i >= len(A.PREFACE):
                continue
            try:
                s.send(A.PREFACE[i:i + 1])
                sent += 1
            except OSError:
                closed[s.fileno()] = time.monotonic() - t
        i += 1
        # Notice closes while waiting out the second.
        end = min(time.monotonic() + 1.0, deadline)
        while time.monotonic() < end:
            rs, _, _ = select.select([s for s, _ in socks if s.fileno() not in closed], [], [], 0.05)
            for s in rs:
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    closed[s.fileno()] = time.monotonic() - opened[s]
    times = [closed.get(s.fileno()) for s, _ in socks]
    ctx.note(f"{sent} preface bytes sent over {i} seconds")
    check_closed_by_deadline(ctx, times, "slowloris connections")


def max_conn_flags(args, flags):
    return [FLAG_MAX_CONNECTIONS, str(args.max_connections)] if FLAG_MAX_CONNECTIONS in flags else []


@case("idle-after-preface-500", 5, server_flags=max_conn_flags, probe="persistent", nofile=8192)
def idle_after_preface(ctx):
    """500 connections that send the preface and SETTINGS (and ACK), then stay idle."""
    base = ctx.server.stats.sockets()
    socks = open_many(ctx, 500, A.PREFACE + A.settings_frame() + A.settings_frame(ack=True))
    time.sleep(1.0)
    held = ctx.server.stats.sockets() - base
    hold_and_watch(ctx, socks, 0.3)  # read what the server sent (SETTINGS; GOAWAY for refused ones)
    ctx.figures["held"] = f"{held}/{len(socks)}"
    if not ctx.has(FLAG_MAX_CONNECTIONS):
        ctx.skip(f"echo-server has no {FLAG_MAX_CONNECTIONS}: cap not checked (server holds {held} of {len(socks)})")
        return
    ctx.check(held <= ctx.args.max_connections,
              f"server holds {held} attacker connections, more than {FLAG_MAX_CONNECTIONS} {ctx.args.max_connections}")


# --- Row 6: at the file-descriptor limit

@case("fd-limit", 6, nofile=256, probe="persistent")
def fd_limit(ctx):
    """Start echo-server with RLIMIT_NOFILE 256, open idle h2 connections until it can accept no more,
    measure its CPU for 2 s, release them, then a new client must be served."""
    socks = []
    for _ in range(400):
        s = ctx.raw_socket(connect=False)
        s.settimeout(0.5)
        try:
            s.connect(("127.0.0.1", ctx.port))
            s.sendall(A.PREFACE + A.settings_frame() + A.settings_frame(ack=True))
        except OSError:
            break
        socks.append(s)
        if len(socks) % 50 == 0 and (ctx.server.stats.fds() or 0) >= 250:
            # Past the limit: a few more sit in the kernel's backlog, which is the state under test.
            if len(socks) >= 300:
                break
    time.sleep(0.3)
    fds = ctx.server.stats.fds()
    ctx.check(fds is not None and fds >= 250, f"the server reached only {fds} of 256 descriptors; the limit was not hit")
    cpu0, t0 = ctx.cpu(), time.monotonic()
    time.sleep(2.0)
    cpu = ctx.cpu() - cpu0
    share = cpu / (time.monotonic() - t0)
    ctx.figures["cpu@limit"] = f"{share * 100:.0f}%"
    ctx.check(share <= ctx.args.fd_limit_cpu,
              f"server used {share * 100:.0f}% of a core for 2 s at the descriptor limit "
              f"(budget {ctx.args.fd_limit_cpu * 100:.0f}%): the accept loop spins")
    ctx.probe_override = (t0, time.monotonic())
    for s in socks:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        ctx.sockets.remove(s)
    deadline = time.monotonic() + 3.0
    ok, why = False, ""
    while time.monotonic() < deadline:
        ok, why, _ = A.unary_get(ctx.port, b"after", timeout=1.0)
        if ok:
            break
        time.sleep(0.1)
    ctx.check(ok, f"after the connections were released, a new client was not served within 3 s: {why}")
    ctx.note(f"{len(socks)} connections opened, server at {fds} descriptors")


# --- Row 7: a stream over MAX_CONCURRENT_STREAMS

def mcs_flags(args, flags):
    return [FLAG_MAX_CONCURRENT_STREAMS, str(args.max_concurrent_streams)] if FLAG_MAX_CONCURRENT_STREAMS in flags else []


@case("over-max-concurrent-streams", 7, server_flags=mcs_flags)
def over_mcs(ctx):
    """Open the advertised number of Update streams (after ACKing SETTINGS), then one more."""
    c = ctx.connect()
    c.start()
    if not ctx.check(A.wait_for_settings(c), "no SETTINGS from the server"):
        return
    limit = c.peer_settings.get(A.MAX_CONCURRENT_STREAMS)
    if not ctx.check(limit is not None and limit <= 1000,
                     f"server advertised MAX_CONCURRENT_STREAMS {limit if limit is not None else '(none: unlimited)'}; "
                     f"expected a limit of at most 1000"):
        return
    if ctx.has(FLAG_MAX_CONCURRENT_STREAMS):
        ctx.check(limit == ctx.args.max_concurrent_streams,
                  f"{FLAG_MAX_CONCURRENT_STREAMS} {ctx.args.max_concurrent_streams} but SETTINGS say {limit}")
    block = A.request_block("/echo.Echo/Update")
    sids = [c.send_headers(block) for _ in range(limit)]
    c.run_until(lambda: all(c.streams[s].headers is not None for s in sids) or c.goaway, 5.0)
    opened = sum(1 for s in sids if c.streams[s].headers is not None)
    if not ctx.check(opened == limit, f"only {opened} of {limit} streams got response headers ({c.describe()})"):
        return
    extra = c.send_headers(block)
    st = c.streams[extra]
    c.run_until(lambda: st.done or c.goaway is not None or st.headers is not None, 2.0)
    time.sleep(0.1)
    c.poll(0.05)
    ctx.check(c.goaway is None and not c.closed,
              f"stream {limit + 1} over the limit cost the connection: {c.describe()}; expected only RST_STREAM REFUSED_STREAM")
    ctx.check(st.rst == A.REFUSED_STREAM, f"stream {limit + 1} over the limit: expected RST_STREAM REFUSED_STREAM, got {st.describe()}")
    if c.closed or c.goaway:
        return
    # An existing stream still works, and ending one frees a slot.
    first = c.streams[sids[0]]
    c.send(A.data_frames(sids[0], A.grpc_message(A.echo_request(b"still-here"))))
    c.run_until(lambda: first.messages() or first.done, 2.0)
    got = first.messages()
    ctx.check(got and A.echo_text(got[0][1]) == b"still-here", f"an existing stream stopped echoing: {first.describe()}")
    c.send(A.data_frames(sids[0], b"", end_stream=True))
    c.run_until(lambda: first.done, 2.0)
    ctx.check(first.grpc_status == 0, f"ending an existing stream: {first.describe()}")
    again = c.send_headers(block)
    c.run_until(lambda: c.streams[again].headers is not None or c.streams[again].done, 2.0)
    ctx.check(c.streams[again].headers is not None and c.streams[again].rst is None,
              f"a new stream after one ended: {c.streams[again].describe()}")
    ctx.note(f"limit {limit}; stream {limit + 1}: {st.describe()}; connection {c.describe()}")


# --- Row 8: protocol edges

@case("grpc-timeout-0n", 8)
def timeout_zero(ctx):
    """20 Get calls with grpc-timeout 0n (a deadline already over): every one must end DEADLINE_EXCEEDED
    (one call is not enough: a server that races the deadline against the handler answers OK sometimes)."""
    outcomes = {}
    for _ in range(20):
        st, c = unary(ctx, extra=[("grpc-timeout", "0n")])
        key = st.describe() if st.grpc_status != 4 else "DEADLINE_EXCEEDED"
        outcomes[key] = outcomes.get(key, 0) + 1
        c.close()
    wrong = {k: n for k, n in outcomes.items() if k != "DEADLINE_EXCEEDED"}
    ctx.check(not wrong, "grpc-timeout 0n: expected grpc-status 4 (DEADLINE_EXCEEDED) every time, got "
              + "; ".join(f"{n}/20 {k}" for k, n in wrong.items()))


@case("bad-bin-metadata", 8)
def bad_bin(ctx):
    st, c = unary(ctx, extra=[("x-blob-bin", "!!not*base64@@")])
    expect_stream(ctx, st, {("grpc", 13)}, "-bin header with invalid base64")


def read_until_closed(s, timeout):
    s.settimeout(0.1)
    data = bytearray()
    deadline = time.monotonic() + timeout
    closed = False
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
    return bytes(data), closed


@case("garbage-preface", 8)
def garbage_preface(ctx):
    s = ctx.raw_socket()
    s.sendall(b"\x16\x03\x01\x02\x00garbage that is not an HTTP/2 preface\r\n\r\n")
    data, closed = read_until_closed(s, 2.0)
    frames = A.parse_frames(bytearray(data))
    goaway = [f for f in frames if f[0] == A.GOAWAY]
    ctx.check(closed, "connection not closed within 2 s")
    seen = ", ".join(A.FRAME_NAMES[f[0]] if f[0] < 10 else str(f[0]) for f in frames) or "nothing"
    if goaway:
        code = struct.unpack(">I", goaway[0][3][4:8])[0]
        ctx.note(f"got {seen}; GOAWAY {A.error_name(code)}")
    ctx.check(goaway, f"no GOAWAY before the close (received: {seen})")


@case("http1-request", 8)
def http1(ctx):
    s = ctx.raw_socket()
    s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: hardening\r\n\r\n")
    data, closed = read_until_closed(s, 2.0)
    ctx.check(closed, "connection not closed within 2 s")
    text = data
    after_frames = ""
    if not text.startswith(b"HTTP/"):
        # Accept the server's SETTINGS going out before it saw the request.
        buf = bytearray(data)
        frames = A.parse_frames(buf)
        if frames and all(f[0] == A.SETTINGS for f in frames):
            text = bytes(buf)
            after_frames = " (after an HTTP/2 SETTINGS frame)"
    line = text.split(b"\r\n", 1)[0]
    ok = any(line.startswith(p) for p in (b"HTTP/1.1 400", b"HTTP/1.0 400", b"HTTP/1.1 505", b"HTTP/1.1 426"))
    if not ok:
        frames = A.parse_frames(bytearray(data))
        if frames:
            seen = "HTTP/2 frames " + ", ".join(A.FRAME_NAMES[f[0]] if f[0] < 10 else str(f[0]) for f in frames)
        else:
            seen = repr(data[:60]) if data else "nothing"
        ctx.check(False, f"expected an HTTP/1.1 400 response before the close, got {seen}")
    if ok:
        ctx.note(f"{line.decode(errors='replace')}{after_frames}")


@case("expand-4mb-words", 8)
def expand_big(ctx):
    """Expand with a 4 MB text of single-letter words (~2M responses); read at full speed for 3 s."""
    text = b"a " * ((4 << 20) // 2 - 16)
    c = ctx.connect()
    c.keep_data = False
    c.start([(A.INITIAL_WINDOW_SIZE, 1 << 20)])
    c.send(A.window_update(0, (8 << 20) - 65535))
    A.wait_for_settings(c)
    sid = c.send_headers(A.request_block("/echo.Echo/Expand"))
    msg = A.grpc_message(A.echo_request(text))
    n = c.send_data(sid, msg, end_stream=True, deadline=time.monotonic() + 3)
    st = c.streams[sid]
    c.run_until(lambda: st.done, 3.0)
    ctx.figures["received"] = f"{st.data_bytes // 1024} KiB"
    ctx.check(n == len(msg), f"only {n} of {len(msg)} request bytes could be sent in 3 s")
    ctx.note(f"sent {n // 1024} KiB; stream: {st.describe()}")


# --- Cases that hold today and must keep holding

@case("rapid-reset", 0)
def rapid_reset(ctx):
    """HEADERS + RST_STREAM(CANCEL) pairs, 1,000 per write, up to 20,000 or until GOAWAY."""
    c = ctx.connect()
    c.start()
    A.wait_for_settings(c)
    block = A.request_block()
    sent = 0
    t0 = time.monotonic()
    while sent < 20000 and c.goaway is None and not c.dead and time.monotonic() - t0 < 4:
        batch = []
        for _ in range(1000):
            sid = c.next_id
            c.next_id += 2
            batch.append(A.header_frames(sid, block) + A.rst_stream(sid, A.CANCEL))
        if not c.send(b"".join(batch)):
            break
        sent += 1000
        c.poll(0)
    c.run_until(lambda: c.goaway is not None or c.closed, 2.0)
    if ctx.check(c.goaway is not None, f"no GOAWAY after {sent} resets ({c.describe()})"):
        last, code, _ = c.goaway
        ctx.note(f"{sent} resets written; GOAWAY {A.error_name(code)} last-stream {last} (~{(last + 1) // 2} streams processed)")
        ctx.check((last + 1) // 2 <= ctx.args.rapid_reset_max,
                  f"server processed ~{(last + 1) // 2} reset streams before GOAWAY (budget {ctx.args.rapid_reset_max})")


@case("continuation-flood", 0)
def continuation_flood(ctx):
    """HEADERS without END_HEADERS, then endless 1-byte CONTINUATION frames (0xbd: a static-table field)."""
    c = ctx.connect()
    c.start()
    A.wait_for_settings(c)
    sid = c.new_stream_id()
    c.send(A.frame(A.HEADERS, 0, sid, A.request_block()))
    one = A.frame(A.CONTINUATION, 0, sid, b"\xbd")
    batch = one * 10000
    cpu0, t0, sent = ctx.cpu(), time.monotonic(), 0
    c.sock.settimeout(0.5)
    while not c.dead and c.goaway is None and time.monotonic() - t0 < 3 and sent < 1_000_000:
        if not c.send(batch):
            break
        sent += 10000
        c.poll(0)
    c.run_until(lambda: c.closed, 2.0)
    cpu = ctx.cpu() - cpu0
    ctx.check(c.closed or (c.goaway is not None and c.goaway[1] != A.NO_ERROR),
              f"connection still open (and no GOAWAY with an error) after {sent} CONTINUATION frames in 3 s")
    ctx.check(cpu <= 1.0, f"server CPU {cpu:.2f} s during the flood (budget 1 s)")
    ctx.note(f"{sent} CONTINUATION frames written; {c.describe()}; server CPU {cpu:.2f} s")


def flood(ctx, one, what):
    c = ctx.connect(rcvbuf=4096)
    c.start()
    batch = one * 5000
    t0, sent = time.monotonic(), 0
    c.sock.settimeout(0.5)
    while not c.dead and time.monotonic() - t0 < 3 and sent < 2_000_000:
        if not c.send(batch):
            break
        sent += 5000
    write_s = time.monotonic() - t0
    # Now read: what did the server say before it closed?
    c.sock.settimeout(2.0)
    c.ack_settings = c.answer_pings = False
    c.auto_window = False
    c.drain(2.0)
    ctx.check(c.closed or (c.goaway is not None and c.goaway[1] != A.NO_ERROR),
              f"connection still open (and no GOAWAY with an error) after {sent} {what} frames unread for 3 s")
    ctx.note(f"{sent} {what} frames written in {write_s:.2f} s; {c.describe()}")


@case("settings-flood", 0, rss_budget_mb=lambda args: args.flood_rss_mb)
def settings_flood(ctx):
    flood(ctx, A.settings_frame([(A.ENABLE_PUSH, 0)]), "SETTINGS")


@case("ping-flood", 0, rss_budget_mb=lambda args: args.flood_rss_mb)
def ping_flood(ctx):
    flood(ctx, A.ping_frame(b"flooding"), "PING")


@case("length-prefix-4gb", 0)
def length_4gb(ctx):
    c = ctx.connect()
    c.start()
    sid = c.send_headers(A.request_block())
    c.send(A.data_frames(sid, b"\x00\xff\xff\xff\xff" + b"x" * 100))
    st = c.streams[sid]
    c.run_until(lambda: st.done, 2.0)
    expect_stream(ctx, st, {("grpc", 8)}, "a 4 GiB length prefix")


@case("gzip-bomb-1gb", 0)
def gzip_bomb(ctx):
    bomb = A.gzip_bomb(1 << 30)
    c = ctx.connect()
    c.start()
    A.wait_for_settings(c)
    sid = c.send_headers(A.request_block(extra=[("grpc-encoding", "gzip")]))
    n = c.send_data(sid, A.grpc_message(bomb, compressed=True), end_stream=True, deadline=time.monotonic() + 3)
    st = c.streams[sid]
    c.run_until(lambda: st.done, 3.0)
    expect_stream(ctx, st, {("grpc", 8)}, f"a {len(bomb) // 1024} KiB gzip message inflating to 1 GiB")
    ctx.note(f"sent {n // 1024} of {len(bomb) // 1024} KiB")


def tls_flags(args, flags):
    out = []
    if FLAG_TLS_HANDSHAKE_TIMEOUT in flags:
        out += [FLAG_TLS_HANDSHAKE_TIMEOUT, str(args.tls_handshake_timeout_ms)]
    return out


@case("tls-handshake-stall", 0, tls=True, server_flags=tls_flags)
def tls_stall(ctx):
    """20 TLS connections that send nothing and 20 that send half a ClientHello, then stall."""
    if ctx.has(FLAG_TLS_HANDSHAKE_TIMEOUT):
        timeout_ms = ctx.args.tls_handshake_timeout_ms
    elif ctx.args.slow:
        timeout_ms = 10_000
    else:
        timeout_ms = None
    hello = client_hello_prefix()
    socks = open_many(ctx, 20) + open_many(ctx, 20, hello)
    wait = (timeout_ms + ctx.args.close_slack_ms) / 1000 if timeout_ms else 1.5
    times = hold_and_watch(ctx, socks, wait)
    still = sum(1 for t in times if t is None)
    worst = max((t for t in times if t is not None), default=None)
    ctx.figures["closed"] = f"{len(times) - still}/{len(times)}" + (f" by {worst:.2f} s" if worst is not None else "")
    if timeout_ms is None:
        ctx.skip(f"echo-server has no {FLAG_TLS_HANDSHAKE_TIMEOUT} and the default is 10 s "
                 f"(run with --slow to wait for it): closing not checked")
        return
    late = sum(1 for t in times if t is not None and t > wait)
    ctx.check(still == 0 and late == 0, f"{still} of {len(times)} stalled handshakes still open after "
                                        f"{timeout_ms} ms + {ctx.args.close_slack_ms} ms slack")


def client_hello_prefix():
    """The first half of a real TLS ClientHello (made by Python's ssl module through memory BIOs)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    return hello[:len(hello) // 2]


@case("bad-content-type", 0)
def bad_content_type(ctx):
    st, _ = unary(ctx, content_type="text/plain")
    expect_stream(ctx, st, {("http", 415)}, "content-type text/plain")


@case("bad-path", 0)
def bad_path(ctx):
    st, _ = unary(ctx, path="/echo.Echo/NoSuchMethod")
    expect_stream(ctx, st, {("grpc", 12)}, "an unknown method")
    st, _ = unary(ctx, path="/no.such.Service/Get")
    expect_stream(ctx, st, {("grpc", 12)}, "an unknown service")


@case("bad-timeout", 0)
def bad_timeout(ctx):
    for value in ("abc", "5x", "-1S", "1.5S"):
        st, _ = unary(ctx, extra=[("grpc-timeout", value)])
        expect_stream(ctx, st, {("grpc", 13)}, f"grpc-timeout {value!r}")


@case("hanging-streams-10k", 0, nofile=8192, rss_budget_mb=lambda args: args.stream_rss_kb * 10000 / 1024 + 16)
def hanging_streams(ctx):
    """125 connections x 80 open Update streams = 10,000 streams, each with a live handler; the connections
    open over ~1.5 s (a crowd of idle clients, not a burst)."""
    n_conns, per = 125, 80
    block = A.request_block("/echo.Echo/Update")
    rss0 = ctx.server.stats.mem_kb()[0]
    conns, by_sock = [], {}

    def pending():
        return [c for c in conns if not c.closed and any(s.headers is None and not s.done for s in c.streams.values())]

    def pump(seconds):
        end = time.monotonic() + seconds
        while True:
            left = pending()
            wait = end - time.monotonic()
            if not left or wait <= 0:
                return
            rs, _, _ = select.select([c.sock for c in left], [], [], min(wait, 0.05))
            for s in rs:
                by_sock[s].poll(0)

    for _ in range(n_conns):
        c = ctx.connect(keep_data=False)
        c.start()
        c.send(b"".join(A.header_frames(c.new_stream_id(), block) for _ in range(per)))
        conns.append(c)
        by_sock[c.sock] = c
        pump(0.012)
    pump(10.0)
    opened = sum(1 for c in conns for s in c.streams.values() if s.headers is not None and not s.done)
    refused = sum(1 for c in conns for s in c.streams.values() if s.done)
    dead = sum(1 for c in conns if c.closed or c.goaway)
    time.sleep(0.3)
    rss1 = ctx.server.stats.mem_kb()[0]
    per_stream_kb = (rss1 - rss0) / max(opened, 1)
    ctx.figures["per stream"] = f"{per_stream_kb:.1f} KiB"
    ctx.check(opened == n_conns * per,
              f"only {opened} of {n_conns * per} streams open ({refused} ended, {dead} connections lost)")
    ctx.check(per_stream_kb <= ctx.args.stream_rss_kb,
              f"server RSS grew {per_stream_kb:.1f} KiB per open stream (budget {ctx.args.stream_rss_kb} KiB)")


# --- Row 4: malicious servers against echo-client

CLIENT_CASES = [
    # (name, kind, allowed status names, what)
    ("client-control", "benign", {"OK"}, "a benign server (checks the malicious peer itself)"),
    ("client-hpack-bomb", "hpack-bomb", {"RESOURCE_EXHAUSTED", "INTERNAL"}, "response headers: HPACK bomb"),
    ("client-many-headers", "many-headers", {"RESOURCE_EXHAUSTED", "INTERNAL"}, "response headers: ~12k small fields"),
    ("client-gzip-bomb", "gzip-bomb", {"RESOURCE_EXHAUSTED", "INTERNAL"}, "response message: gzip inflating to 256 MiB"),
    ("client-no-settings", "no-settings", {"DEADLINE_EXCEEDED", "UNAVAILABLE"}, "server never sends SETTINGS"),
]


def run_client(args, port, timeout_ms, wall_limit):
    cmd = [args.client, "--port", str(port), "--mode", "get", "--text", "hardening", "--timeout-ms", str(timeout_ms)]
    t0 = time.monotonic()
    p = spawn(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = bytearray()
    os.set_blocking(p.stdout.fileno(), False)
    status = usage = None
    killed = False
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        try:
            chunk = p.stdout.read()
            if chunk:
                out += chunk
        except (BlockingIOError, TypeError):
            pass
        if pid:
            break
        if time.monotonic() - t0 > wall_limit:
            os.kill(p.pid, signal.SIGKILL)
            killed = True
            _, status, usage = os.wait4(p.pid, 0)
            break
        time.sleep(0.01)
    elapsed = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    try:
        rest = p.stdout.read()
        if rest:
            out += rest
    except (BlockingIOError, TypeError):
        pass
    _children.remove(p)
    text = out.decode(errors="replace")
    line = next((l for l in text.splitlines() if l.startswith("status: ")), None)
    code = line[len("status: "):].split(":")[0].split(" ")[0] if line else None
    return dict(code=code, line=line, exit=p.returncode, killed=killed, elapsed=elapsed, maxrss_kb=usage.ru_maxrss, out=text)


def run_client_case(args, name, kind, allowed, what, control_rss_kb):
    server = A.MaliciousServer(kind)
    try:
        timeout_ms = 1000 if kind == "no-settings" else 3000
        wall = timeout_ms / 1000 + args.close_slack_ms / 1000 + 2
        r = run_client(args, server.port, timeout_ms, wall)
    finally:
        server.stop()
    checks, notes = [], []
    checks.append((not r["killed"], f"echo-client still running after {wall:.1f} s (SIGKILLed)"))
    checks.append((r["exit"] is not None and r["exit"] >= 0, f"echo-client {describe_exit(r['exit'])}"))
    checks.append((r["code"] in allowed, f"echo-client ended with {r['line'] or 'no status line'!s}; expected "
                                         f"{' or '.join(sorted(allowed))}"))
    if kind == "no-settings":
        bound = (timeout_ms + args.close_slack_ms) / 1000
        checks.append((r["elapsed"] <= bound, f"echo-client took {r['elapsed']:.2f} s, over its deadline {timeout_ms} ms "
                                              f"+ {args.close_slack_ms} ms slack"))
    if control_rss_kb is not None:
        budget = control_rss_kb + args.client_rss_budget_mb * 1024
        checks.append((r["maxrss_kb"] <= budget, f"echo-client max RSS {r['maxrss_kb'] / 1024:.0f} MB, over "
                                                 f"{budget / 1024:.0f} MB (control + {args.client_rss_budget_mb} MB)"))
    if server.requests == 0 and kind != "no-settings":
        checks.append((False, "harness: the malicious server saw no request"))
    if server.sent_attack:
        notes.append({"hpack-bomb": f"{server.sent_attack} refs to a 4 KiB entry",
                      "many-headers": f"{server.sent_attack} fields",
                      "gzip-bomb": f"{server.sent_attack // 1024} KiB compressed"}[kind])
    fails = [t for ok, t in checks if not ok]
    figures = f"took {r['elapsed']:.2f} s, max RSS {r['maxrss_kb'] / 1024:.1f} MB, {(r['line'] or 'no status').strip()}"
    return ("FAIL" if fails else "PASS"), figures, notes, fails, r


# MARK: Running

def parse_flags(command):
    try:
        out = subprocess.run([*command, "--help"], capture_output=True, timeout=20, env=CHILD_ENV).stdout.decode(errors="replace")
    except (OSError, subprocess.TimeoutExpired) as e:
        raise HarnessError(f"cannot run {' '.join(command)} --help: {e}")
    return {f for f in OPTIONAL_FLAGS + ("--announce-port",) if f in out}


def make_certs(tmp):
    d = os.path.join(tmp, "certs")
    r = subprocess.run(["bash", os.path.join(ROOT, "scripts", "make-dev-certs.sh"), d], capture_output=True)
    if r.returncode != 0:
        raise HarnessError(f"make-dev-certs.sh failed: {r.stderr.decode(errors='replace')}")
    return d


def fmt_mb(kb):
    return f"{kb / 1024:.1f}"


def run_server_case(args, flags, c, log_dir, certs):
    ctx = Context(args, flags, c, log_dir)
    server_flags = list(c.server_flags(args, flags))
    if c.tls:
        ctx.tls_ca = os.path.join(certs, "ca.pem")
        server_flags += ["--tls-cert", os.path.join(certs, "server.pem"), "--tls-key", os.path.join(certs, "server.key")]
        ctx.tls = A.tls_client_context(ctx.tls_ca)
    server = Server(args.server_cmd, server_flags, nofile=c.nofile, log_dir=log_dir, name=c.name,
                    announce="--announce-port" in flags)
    ctx.server, ctx.port = server, server.port
    probe = None
    error = None
    try:
        probe = Probe(server.port, c.probe, tls_ca=ctx.tls_ca)
        base_ms = probe.baseline()
        limit_ms = max(args.latency_factor * base_ms, args.latency_floor_ms)
        rss0, hwm0 = server.stats.mem_kb()
        cpu0 = server.stats.cpu_s()
        t0 = time.monotonic()
        try:
            c.fn(ctx)
        except Exception as e:  # a crash of the case is a harness bug unless the server died
            error = f"{type(e).__name__}: {e}"
            if args.verbose:
                traceback.print_exc()
        t1 = time.monotonic()
        if t1 - t0 < args.min_window_s:
            # A quick attack: its aftermath counts as "during" too, long enough for a few probe calls.
            time.sleep(t0 + args.min_window_s - t1)
            t1 = time.monotonic()
        w0, w1 = ctx.probe_override or (t0, t1)
        calls = probe.window(w0, w1, limit_ms)
        time.sleep(0.1)
        alive = server.alive()
        rss1, hwm1 = server.stats.mem_kb() if alive else (None, None)
        cpu1 = server.stats.cpu_s() if alive else None
    finally:
        ctx.close_all()
        if probe:
            probe.stop()
        exit_code = server.proc.poll()
        server.stop()

    fails = []
    if not alive:
        fails.append(f"server {describe_exit(exit_code)}")
    if error:
        fails.append(f"attack raised {error}" + ("" if not alive else " (harness?)"))
    lat = [(e - s) * 1000 for s, e, _, _ in calls]
    bad = [c_ for c_ in calls if not c_[2]]
    slow = [x for x in lat if x > limit_ms]
    if not calls:
        fails.append("no probe call overlapped the attack (harness)")
    elif bad:
        fails.append(f"{len(bad)} of {len(calls)} probe calls failed during the attack: {bad[0][3]}")
    elif slow:
        fails.append(f"{len(slow)} of {len(calls)} probe calls over {limit_ms:.0f} ms (worst {max(lat):.0f} ms)")
    budget_mb = c.rss_budget_mb(args)
    growth_mb = (max(hwm1, rss1) - rss0) / 1024 if alive else None
    if alive and growth_mb > budget_mb:
        fails.append(f"RSS peak grew {growth_mb:.0f} MB (budget {budget_mb:.0f} MB)")
    fails += [t for ok, t in ctx.checks if not ok]
    verdict = "FAIL" if fails else ("SKIP" if ctx.skips else "PASS")
    during = f"max {max(lat):.1f} ms n={len(lat)}" if lat else "none"
    if alive:
        memory = f"rss {fmt_mb(rss0)}->{fmt_mb(rss1)} MB (peak +{growth_mb:.1f}, budget {budget_mb:.0f})"
        cpu = f"cpu {cpu1 - cpu0:.2f} s"
    else:
        memory, cpu = f"rss {fmt_mb(rss0)} MB->dead", "cpu n/a"
    figures = f"base {base_ms:.1f} ms, during {during} (limit {limit_ms:.0f}), {memory}, {cpu}"
    for k, v in ctx.figures.items():
        figures += f", {k} {v}"
    return verdict, figures, ctx.notes + ctx.skips, fails


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default=os.path.join(ROOT, ".build", "debug", "echo-server"))
    p.add_argument("--client", default=os.path.join(ROOT, ".build", "debug", "echo-client"))
    p.add_argument("--only", nargs="*", help="run only these cases (names or row numbers)")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--verbose", action="store_true", help="print notes and tracebacks")
    p.add_argument("--log-dir", help="keep each server's stderr here (default: a temporary directory, removed)")
    g = p.add_argument_group("bounds")
    g.add_argument("--latency-factor", type=float, default=10, help="probe latency limit: this x baseline ...")
    g.add_argument("--latency-floor-ms", type=float, default=200, help="... but never below this")
    g.add_argument("--min-window-s", type=float, default=0.5, help="probe window when an attack is quicker")
    g.add_argument("--rss-budget-mb", type=float, default=64, help="RSS peak growth allowed per case")
    g.add_argument("--flood-rss-mb", type=float, default=32, help="RSS budget of the SETTINGS/PING floods")
    g.add_argument("--stream-rss-kb", type=float, default=16, help="RSS per open stream (10k streams case)")
    g.add_argument("--bomb-cpu-ms", type=float, default=30, help="server CPU per HPACK bomb block")
    g.add_argument("--fd-limit-cpu", type=float, default=0.15, help="server CPU share (of one core) at the fd limit")
    g.add_argument("--rapid-reset-max", type=int, default=5000, help="reset streams processed before GOAWAY")
    g.add_argument("--gzip-send-kb", type=int, default=1024, help="compressed bytes the gzip-inflate-bidi case sends")
    g.add_argument("--client-rss-budget-mb", type=float, default=32, help="echo-client max RSS above the control run")
    g.add_argument("--close-slack-ms", type=float, default=1000, help="slack on every close-by-deadline check")
    g = p.add_argument_group("server knobs (passed when echo-server has the flag)")
    g.add_argument("--preface-timeout-ms", type=int, default=1000)
    g.add_argument("--tls-handshake-timeout-ms", type=int, default=1000)
    g.add_argument("--max-connections", type=int, default=100)
    g.add_argument("--max-concurrent-streams", type=int, default=16)
    g.add_argument("--slow", action="store_true", help="also wait out 10 s defaults (TLS handshake timeout)")
    args = p.parse_args()

    names = [c.name for c in CASES] + [n for n, *_ in CLIENT_CASES]
    if args.list:
        for c in CASES:
            print(f"row {c.row or '-'}  {c.name:30s} {(c.fn.__doc__ or '').strip().splitlines()[0] if c.fn.__doc__ else ''}")
        for n, _, _, what in CLIENT_CASES:
            print(f"row 4  {n:30s} echo-client vs {what}")
        return 0
    selected = None
    if args.only:
        selected = set()
        for o in args.only:
            if o.isdigit():
                selected |= {c.name for c in CASES if c.row == int(o)}
                if o == "4":
                    selected |= {n for n, *_ in CLIENT_CASES}
            elif o in names:
                selected.add(o)
            else:
                print(f"unknown case {o!r}; --list shows them", file=sys.stderr)
                return 2
    # --server may be a command line (another implementation to check the expectations against, e.g.
    # "python3 Tests/Interop/grpcio_echo_server.py --ignore-stdin"); it must take --port 0 and print PORT <n>.
    args.server_cmd = shlex.split(args.server)
    for binary in (args.server_cmd[0], args.client):
        if not os.access(binary, os.X_OK) and not shutil.which(binary):
            print(f"not an executable: {binary} (build it, or pass --server/--client)", file=sys.stderr)
            return 2

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 16384), hard))

    def on_signal(sig, _):
        raise SystemExit(128 + sig)
    signal.signal(signal.SIGTERM, on_signal)

    tmp = tempfile.mkdtemp(prefix="hardening-")
    log_dir = args.log_dir or tmp
    os.makedirs(log_dir, exist_ok=True)
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    started = time.monotonic()
    try:
        flags = parse_flags(args.server_cmd)
        missing = [f for f in OPTIONAL_FLAGS if f not in flags]
        print(f"server {args.server}\nclient {args.client}\n"
              f"echo-server flags found: {', '.join(sorted(flags)) or 'none'}; missing: {', '.join(missing) or 'none'}",
              flush=True)
        certs = None
        for c in CASES:
            if selected is not None and c.name not in selected:
                continue
            if c.tls and certs is None:
                certs = make_certs(tmp)
            t = time.monotonic()
            try:
                verdict, figures, notes, fails = run_server_case(args, flags, c, log_dir, certs)
            except HarnessError as e:
                verdict, figures, notes, fails = "FAIL", "", [], [f"harness: {e}"]
            report(c.name, c.row, verdict, figures, notes, fails, time.monotonic() - t, args.verbose)
            counts[verdict] += 1
        control_rss = None
        for name, kind, allowed, what in CLIENT_CASES:
            if selected is not None and name not in selected and not (kind == "benign"
                                                                     and any(n in selected for n, *_ in CLIENT_CASES)):
                continue
            t = time.monotonic()
            verdict, figures, notes, fails, r = run_client_case(args, name, kind, allowed, what, control_rss)
            if kind == "benign":
                control_rss = r["maxrss_kb"] if verdict == "PASS" else None
            report(name, 4, verdict, figures, [what] + notes, fails, time.monotonic() - t, args.verbose)
            counts[verdict] += 1
    finally:
        kill_all()
        if not args.log_dir:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"hardening: {counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped "
          f"in {time.monotonic() - started:.0f} s")
    print(f"{counts['PASS']} passed, {counts['FAIL']} failed" + (f", {counts['SKIP']} skipped" if counts['SKIP'] else ""))
    return 1 if counts["FAIL"] else 0


def report(name, row, verdict, figures, notes, fails, seconds, verbose):
    line = f"{verdict:4s} {name:28s} [row {row or '-'}, {seconds:.1f} s] {figures}"
    if fails:
        line += " | " + "; ".join(fails)
    if notes:
        line += " | " + "; ".join(notes)
    print(line, flush=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        kill_all()
        sys.exit(130)
