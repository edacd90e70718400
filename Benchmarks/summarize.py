#!/usr/bin/env python3
"""Parses the outputs of compare.sh's runs and writes BENCHMARKS.md (stdlib only).

  summarize.py h2load OUT REQLOG        -> "metric value" lines (qps, p50_us, p90_us, p99_us, mean_us, max_us, errors)
  summarize.py client OUT MODE          -> "metric value" lines from a client's key=value line (shared client CLI)
  summarize.py report RESULTS NOTES COMMAND ROUNDS  -> BENCHMARKS.md on stdout
"""
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys

UNITS_US = {"us": 1.0, "ms": 1000.0, "s": 1e6}
IMPLS = ["breakwater", "cpp", "grpcswift"]
TITLES = {"breakwater": "Breakwater", "cpp": "gRPC C++", "grpcswift": "grpc-swift 2"}
SHORT = {"cpp": "C++", "grpcswift": "grpc-swift 2"}


def pct(sorted_values, q):
    if not sorted_values:
        return 0.0
    return float(sorted_values[min(len(sorted_values) - 1, int(q * (len(sorted_values) - 1) + 0.5))])


# --- parsers ---------------------------------------------------------------------------------------------------

def parse_h2load(out_path, log_path):
    text = open(out_path, encoding="utf-8", errors="replace").read()
    m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", text)
    if not m:
        sys.exit(f"no req/s in {out_path}")
    qps = float(m.group(1))
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", text)
    errors = int(m.group(5)) + int(m.group(6)) + int(m.group(7))
    m = re.search(r"time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)", text)
    mean_us = float(m.group(5)) * UNITS_US[m.group(6)]
    lat = []
    for line in open(log_path):
        cols = line.split("\t")
        if len(cols) < 3:
            continue
        if cols[1] != "200":
            errors += 1
            continue
        lat.append(int(cols[2]))
    lat.sort()
    print("qps", qps)
    print("p50_us", pct(lat, 0.5))
    print("p90_us", pct(lat, 0.9))
    print("p99_us", pct(lat, 0.99))
    print("mean_us", mean_us)
    print("max_us", float(lat[-1]) if lat else 0.0)
    print("errors", errors)


def line_values(line):
    kv = {}
    for token in line.split():
        if "=" in token:
            k, v = token.split("=", 1)
            try:
                kv[k] = float(v)
            except ValueError:
                pass
    return kv


def parse_client(path, mode):
    """The last line with qps= is the client's figures; derived: cpu_us_per_call, cpu_us_per_msg."""
    lines = [l for l in open(path, encoding="utf-8", errors="replace") if "qps=" in l and not l.startswith("#")]
    if not lines:
        sys.exit(f"no qps= line in {path}")
    kv = line_values(lines[-1])
    required = ["qps", "p50_us", "p99_us", "errors"] + (["msgs_per_s"] if mode == "expand" else [])
    missing = [k for k in required if k not in kv]
    if missing:
        sys.exit(f"{path}: no {', '.join(missing)}")
    if "cpu_us_per_call" not in kv and "cpu_s" in kv and kv.get("calls"):
        kv["cpu_us_per_call"] = kv["cpu_s"] / kv["calls"] * 1e6
    if mode == "expand" and "cpu_s" in kv and kv.get("calls") and kv.get("stream_messages"):
        kv["cpu_us_per_msg"] = kv["cpu_s"] / (kv["calls"] * kv["stream_messages"]) * 1e6
    for k in ("qps", "p50_us", "p90_us", "p99_us", "max_us", "calls", "errors", "cpu_s", "cpu_us_per_call",
              "cpu_us_per_msg", "peak_rss_kb", "msgs_per_s"):
        if k in kv:
            print(k, kv[k])


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60).stdout.strip() or "?"
    except Exception:
        return "?"


def fmt(v, metric="", raw=False):
    if v is None:
        return "n/m"
    if metric == "peak_rss_kb" and not raw:
        return f"{v / 1024:.1f}"
    if metric == "errors":
        return f"{v:.0f}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def case_info(case, stream_messages):
    """(sort key, title, kind) of a case name such as server-4x16, client-c64, stream-client-c8."""
    m = re.fullmatch(r"server-(\d+)x(\d+)", case)
    if m:
        c, s = int(m.group(1)), int(m.group(2))
        return ((0, c * s, c), f"Server, unary, h2load {c} conn{'s' if c > 1 else ''} x {s} stream{'s' if s > 1 else ''}", "server")
    m = re.fullmatch(r"(stream-)?(client|server)-(loop-)?c(\d+)", case)
    if m:
        stream, role, loop, c = bool(m.group(1)), m.group(2), bool(m.group(3)), int(m.group(4))
        # The loop rows: Breakwater's callers on the connection's event loop (breakwater-load --prefer-loop).
        on_loop = ", BW callers on the loop" if loop else ""
        if not stream:
            return ((1, c, int(loop)), f"Client, unary, concurrency {c} -> C++ server{on_loop}", "client")
        if role == "client":
            return ((2, c, int(loop)),
                    f"Client, server-streaming {stream_messages} msgs/call, concurrency {c} -> C++ server{on_loop}",
                    "stream-client")
        return ((3, c, 0), f"Server, server-streaming {stream_messages} msgs/call, C++ client at concurrency {c}",
                "stream-server")
    return ((9, 0, 0), case, "other")


# metric, label, higher is better
METRICS = {
    "server": [("qps", "requests/s", True), ("p50_us", "p50 latency (µs)", False), ("p99_us", "p99 latency (µs)", False),
               ("errors", "errors", False)],
    "client": [("qps", "requests/s", True), ("p50_us", "p50 latency (µs)", False), ("p99_us", "p99 latency (µs)", False),
               ("cpu_us_per_call", "client CPU per call (µs)", False), ("peak_rss_kb", "client peak RSS (MB)", False),
               ("errors", "errors", False)],
    "stream-client": [("msgs_per_s", "messages/s", True), ("p50_us", "p50 per stream (µs)", False),
                      ("cpu_us_per_msg", "client CPU per message (µs)", False),
                      ("peak_rss_kb", "client peak RSS (MB)", False), ("errors", "errors", False)],
    "stream-server": [("msgs_per_s", "messages/s", True), ("p50_us", "p50 per stream (µs)", False),
                      ("errors", "errors", False)],
}

# Issue 5's targets, then issue 16's: (case, metric) -> [(peer, ">=" or "<=", ratio Breakwater / peer)]
TARGETS = {
    ("server-1x1", "qps"): [("cpp", ">=", 1.0)],
    ("server-1x1", "p50_us"): [("cpp", "<=", 1.0)],
    ("server-4x16", "qps"): [("cpp", ">=", 1.0), ("grpcswift", ">=", 4.0)],
    ("client-c1", "qps"): [("cpp", ">=", 1.0), ("grpcswift", ">=", 4.0)],
    ("client-c64", "qps"): [("cpp", ">=", 1.0), ("grpcswift", ">=", 4.0)],
    ("client-loop-c1", "qps"): [("cpp", ">=", 1.0), ("grpcswift", ">=", 4.0)],
    ("client-loop-c64", "qps"): [("cpp", ">=", 1.0), ("grpcswift", ">=", 4.0)],
    # Issue 16's: ahead of C++ in every case.
    **{(f"stream-{role}-c{c}", "msgs_per_s"): [("cpp", ">=", 1.0)]
       for role in ("client", "client-loop", "server") for c in (1, 8)},
}


def tx(x):
    return f"{x:.1f}x"


def report(results_path, notes_path, command, rounds):
    data = {}
    by_round = {}  # (case, impl, metric) -> {round: value}
    for line in open(results_path):
        case, impl, metric, rnd, value = line.rstrip("\n").split("\t")
        data.setdefault((case, impl, metric), []).append(float(value))
        by_round.setdefault((case, impl, metric), {})[rnd] = float(value)
    med = {k: statistics.median(v) for k, v in data.items()}

    def round_ratios(case, peer, metric):
        """Breakwater / peer in each round both were measured, in round order."""
        bw_rounds = by_round.get((case, "breakwater", metric), {})
        peer_rounds = by_round.get((case, peer, metric), {})
        return [bw_rounds[r] / peer_rounds[r] for r in sorted(bw_rounds, key=int) if peer_rounds.get(r)]
    notes = {}
    for line in open(notes_path):
        if "\t" in line:
            k, v = line.rstrip("\n").split("\t", 1)
            notes[k] = v
    stream_messages = re.search(r"STREAM_MESSAGES=(\d+)", command)
    stream_messages = stream_messages.group(1) if stream_messages else "?"

    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = sh("awk '/MemTotal/{printf \"%.1f GiB\", $2/1048576}' /proc/meminfo")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    commit = sh(f"git -C '{root}' rev-parse --short HEAD")
    dirty = sh(f"git -C '{root}' status --porcelain --untracked-files=no -- Sources Examples Package.swift Benchmarks/Sources Benchmarks/Package.swift")
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    gs_versions = "not measured"
    resolved = os.path.join(root, "Benchmarks/Peers/grpc-swift/Package.resolved")
    if os.path.exists(resolved):
        try:
            pins = {p["identity"]: p["state"].get("version") or p["state"].get("revision", "?")[:10]
                    for p in json.load(open(resolved))["pins"]}
            gs_versions = ", ".join(f"{k} {v}" for k, v in sorted(pins.items()) if k.startswith("grpc-swift") or k == "swift-nio")
        except Exception:
            gs_versions = "? (unreadable Package.resolved)"
    elif os.path.exists(os.path.join(root, "Benchmarks/Peers/grpc-swift/Package.swift")):
        # No Package.resolved (it is not committed): the exact versions the manifest pins.
        manifest = open(os.path.join(root, "Benchmarks/Peers/grpc-swift/Package.swift")).read()
        pins = re.findall(r'github\.com/[^/"]+/([^"/]+?)(?:\.git)?", exact: "([^"]+)"', manifest)
        gs_versions = ", ".join(f"{name} {version}" for name, version in pins) or "? (no exact versions in Package.swift)"

    cases = sorted({k[0] for k in data}, key=lambda c: case_info(c, stream_messages)[0])

    o = []
    o.append("# Breakwater vs gRPC C++ and grpc-swift 2: comparison benchmarks\n")
    o.append("Written by `Benchmarks/compare.sh` (do not edit by hand; rerun the script). "
             f"Medians over {rounds} round{'s' if rounds != '1' else ''}; every implementation runs in the same run, "
             "alternating within each case, with the first implementation rotating from round to round.\n")
    o.append("- **Date:** " + now)
    o.append(f"- **Command:** `{command}`")
    o.append(f"- **Machine:** {sh('nproc')} CPUs ({cpu}), {mem} RAM, {platform.system()} {platform.release()}; "
             "client and server share the machine (loopback, " + (notes['pin'] if 'pin' in notes else "no pinning") + "). Load average (1/5/15 min) before the run "
             f"{notes.get('load_before', '?')}, after {notes.get('load_after', '?')}: other work shares these cores, "
             "so compare columns within one run, not across runs.")
    o.append(f"- **Breakwater:** commit {commit}{' (sources modified)' if dirty != '?' else ''}, release build, "
             f"{sh('swift --version 2>&1 | head -1')}; server `echo-server`, client "
             f"{notes.get('client.breakwater', '?')}" + (f"; **{notes['idle_poll']}**" if 'idle_poll' in notes else ""))
    o.append(f"- **gRPC C++:** {sh('pkg-config --modversion grpc++')} (Debian libgrpc++-dev), callback API, "
             f"{sh('g++ --version | head -1')} -O2 (`Benchmarks/Peers/cpp`: `echo_server`, `echo_load`)")
    o.append(f"- **grpc-swift 2:** {gs_versions}, release build (`Benchmarks/Peers/grpc-swift`: `gs-echo-server`, "
             "`gs-echo-load`" + (f"; prebuilt binaries from `{notes['grpcswift_bin']}` (GRPCSWIFT_BIN)" if 'grpcswift_bin' in notes else "") + "), the NIO HTTP/2 transport with its defaults: that includes flush coalescing (up to "
             "100 µs), which both programs can turn off with `--no-flush-coalescing`; compare.sh measures what a user gets")
    o.append(f"- **Load:** {sh('h2load --version 2>&1 | head -1')} for the server cases; unary `/echo.Echo/Get` "
             f"with the 16-byte text `breakwater-bench`; server streaming `/echo.Echo/Expand` with {stream_messages} "
             "copies of it joined by spaces (one 16-byte response per word)")
    o.append(f"- **Time:** {notes.get('build_s', '?')} s building/checking, {notes.get('bench_s', '?')} s measuring\n")

    nm = {k: v for k, v in notes.items() if k.startswith("not_measured.")}
    if nm:
        o.append("**Not measured in this run:**\n")
        for k, v in sorted(nm.items()):
            _, impl, role = k.split(".", 2)
            o.append(f"- {TITLES.get(impl, impl)} {role}: not measured: {v}")
        o.append("")

    o.append("## Results\n")
    o.append("Ratios are Breakwater / peer. Higher is better for requests/s and messages/s; lower is better for "
             "latency, CPU and memory. `n/m` = not measured (see above). Targets are issues 5's and 16's.\n")
    o.append("| Case | Metric | Breakwater | gRPC C++ | grpc-swift 2 | BW / C++ | BW / grpc-swift 2 | Target | Met? |")
    o.append("|---|---|---:|---:|---:|---:|---:|---|---|")
    for case in cases:
        _, title, kind = case_info(case, stream_messages)
        for metric, label, _higher in METRICS.get(kind, []):
            vals = {impl: med.get((case, impl, metric)) for impl in IMPLS}
            if all(v is None for v in vals.values()):
                continue
            bw = vals["breakwater"]

            def ratio(peer):
                p = vals[peer]
                if metric == "errors" or bw is None or p is None or p == 0:
                    return None
                return bw / p
            ratios = {peer: ratio(peer) for peer in ("cpp", "grpcswift")}
            target, met = "", ""
            goals = TARGETS.get((case, metric), [])
            if goals:
                target = "; ".join(f"{op} {tx(t)} {SHORT[peer]}" for peer, op, t in goals)
                verdicts = []
                for peer, op, t in goals:
                    r = ratios[peer]
                    if r is None:
                        v = "not measured"
                    else:
                        v = "**yes**" if (r >= t if op == ">=" else r <= t) else "no"
                        # How many rounds agree: on a noisy machine a median verdict can rest on 3 of 5.
                        rs = round_ratios(case, peer, metric)
                        if len(rs) > 1:
                            v += f" ({sum(1 for x in rs if (x >= t if op == '>=' else x <= t))} of {len(rs)} rounds)"
                    verdicts.append(v if len(goals) == 1 else f"{SHORT[peer]}: {v}")
                met = "; ".join(verdicts)
                errs = [med.get((case, i, "errors")) or 0 for i in IMPLS]
                if any(errs):
                    met += " (errors in the run)"
            cells = [fmt(vals[i], metric) for i in IMPLS]
            rcells = [f"{ratios[p]:.2f}x" if ratios[p] is not None else "-" for p in ("cpp", "grpcswift")]
            o.append(f"| {title} | {label} | {' | '.join(cells)} | {' | '.join(rcells)} | {target} | {met} |")
    o.append("")

    o.append("## Round by round\n")
    o.append("Breakwater / peer within each round, for the throughput of each case. The implementations of a case run "
             "back to back within a round, so a slow spell of a shared machine hits them alike; the spread shows how "
             "far one round's verdict can be trusted. (The table above divides medians over the rounds.)\n")
    o.append("| Case | Metric | BW / C++ per round | median | BW / grpc-swift 2 per round | median |")
    o.append("|---|---|---|---:|---|---:|")
    for case in cases:
        _, title, kind = case_info(case, stream_messages)
        if not METRICS.get(kind):
            continue
        metric, label, _higher = METRICS[kind][0]  # each kind lists its throughput first
        bw_rounds = by_round.get((case, "breakwater", metric))
        if not bw_rounds:
            continue
        cells = []
        for peer in ("cpp", "grpcswift"):
            rs = round_ratios(case, peer, metric)
            cells += [" ".join(f"{r:.2f}" for r in rs) or "-",
                      f"{statistics.median(rs):.2f}x" if rs else "-"]
        o.append(f"| {title} | {label} | {' | '.join(cells)} |")
    o.append("")

    o.append("## How each figure is taken\n")
    o.append("- **Server, unary:** `h2load -t 1 -c C -m S -D <SERVER_SECONDS> --warm-up-time=<WARMUP_SECONDS>` against "
             "each server (Breakwater's `echo-server`, the C++ `echo_server`, `gs-echo-server`); body = 5-byte gRPC "
             "prefix + serialized `EchoRequest`, headers `content-type: application/grpc`, `te: trailers`. requests/s "
             "is h2load's `req/s`; p50/p99 come from h2load's per-request `--log-file`. h2load counts any HTTP 200 as "
             "success, so each round first makes one `nghttp -v` call per server and requires the echoed text and "
             "`grpc-status: 0` in the trailers; a non-200 row in the log counts as an error.")
    o.append("- **Client, unary:** each client against the C++ server, one connection, closed loop, every response "
             "checked: `CLIENT --target ... --concurrency C --duration <CLIENT_SECONDS> --payload 16 --warmup "
             "<CLIENT_WARMUP>`. Latency is per call. Client CPU per call = the client process's user+sys CPU over the "
             "measured phase / calls; peak RSS is the client's `ru_maxrss`.")
    o.append("- **BW callers on the loop:** the rows so marked run Breakwater's client with `--prefer-loop`: each "
             "caller's task prefers its connection's event loop as executor (`withTaskExecutorPreference`), so a "
             "call's answer resumes its caller on the loop's thread, which then starts the next call, as the C++ "
             "callback API starts the next call on the thread that completed the last. The other rows run the "
             "callers on Swift's global executor (the default), where each answer costs one thread hand-off. The "
             "peers' figures in a loop row are the same runs as in the row above it.")
    o.append(f"- **Server streaming:** `CLIENT ... --mode expand --stream-messages {stream_messages}`: each call "
             f"sends one `EchoRequest` whose text is {stream_messages} copies of `breakwater-bench` joined by single "
             f"spaces and must receive exactly {stream_messages} responses, each `breakwater-bench`, then status OK; "
             "messages/s counts the messages of correct calls over the measured time, the latency is per whole "
             "stream. Client rows: each client against the C++ server; server rows: the C++ client against each "
             "server (C++ client -> C++ server is the same run in both).\n")

    o.append("## Per-round values\n")
    o.append("Every figure each implementation printed, round 1 first (units as in the metric name; "
             "`-` = not measured).\n")
    o.append("| Case | Metric | Breakwater | gRPC C++ | grpc-swift 2 |")
    o.append("|---|---|---|---|---|")
    for case in cases:
        for metric in sorted({k[2] for k in data if k[0] == case}):
            cells = [" ".join(fmt(v, metric, raw=True) for v in data[(case, impl, metric)])
                     if (case, impl, metric) in data else "-" for impl in IMPLS]
            o.append(f"| {case} | {metric} | {' | '.join(cells)} |")
    o.append("")
    print("\n".join(o))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    mode = sys.argv[1]
    if mode == "h2load" and len(sys.argv) == 4:
        parse_h2load(sys.argv[2], sys.argv[3])
    elif mode == "client" and len(sys.argv) == 4:
        parse_client(sys.argv[2], sys.argv[3])
    elif mode == "report" and len(sys.argv) == 6:
        report(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
