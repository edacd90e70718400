#!/usr/bin/env python3
"""Parses the outputs of compare.sh's runs and writes BENCHMARKS.md (stdlib only).

  summarize.py h2load OUT REQLOG      -> "metric value" lines (qps, p50_us, p90_us, p99_us, mean_us, max_us, errors)
  summarize.py echo-bench OUT         -> "case metric value" lines (client-c64, client-c1)
  summarize.py echo-load OUT          -> "metric value" lines
  summarize.py report RESULTS COMMAND ROUNDS  -> BENCHMARKS.md on stdout
"""
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys

UNITS_US = {"us": 1.0, "ms": 1000.0, "s": 1e6}


def pct(sorted_values, q):
    if not sorted_values:
        return 0.0
    return float(sorted_values[min(len(sorted_values) - 1, int(q * (len(sorted_values) - 1) + 0.5))])


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


def key_values(path):
    kv = {}
    for line in open(path, encoding="utf-8", errors="replace"):
        if line.startswith("#"):
            continue
        for token in line.split():
            if "=" in token:
                k, v = token.split("=", 1)
                try:
                    kv[k] = float(v)
                except ValueError:
                    pass
    return kv


def parse_echo_bench(path):
    kv = key_values(path)
    for c in ("c64", "c1"):
        for metric in ("qps", "p50_us", "p99_us", "cpu_us_per_call"):
            key = f"throughput.{c}.{metric}"
            if key not in kv:
                sys.exit(f"no {key} in {path}")
            print(f"client-{c}", metric, kv[key])
        # echo-bench counts the errors of both concurrencies together.
        print(f"client-{c}", "errors", kv.get("throughput.errors", kv.get("errors", 0)))


def parse_echo_load(path):
    kv = key_values(path)
    for metric in ("qps", "p50_us", "p90_us", "p99_us", "max_us", "errors"):
        if metric not in kv:
            sys.exit(f"no {metric} in {path}")
        print(metric, kv[metric])


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60).stdout.strip()
    except Exception:
        return "?"


def fmt(v):
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.1f}"


CASES = [
    ("server-1x1", "Server, h2load 1 conn x 1 stream", "server"),
    ("server-4x16", "Server, h2load 4 conns x 16 streams", "server"),
    ("client-c1", "Client, concurrency 1 (vs C++ server)", "client"),
    ("client-c64", "Client, concurrency 64 (vs C++ server)", "client"),
]
METRICS = [("qps", "requests/s", True), ("p50_us", "p50 latency (us)", False),
           ("p99_us", "p99 latency (us)", False), ("mean_us", "mean latency (us)", False), ("errors", "errors", False)]


def report(results_path, command, rounds):
    data = {}
    for line in open(results_path):
        case, impl, metric, rnd, value = line.rstrip("\n").split("\t")
        data.setdefault((case, impl, metric), []).append(float(value))
    med = {k: statistics.median(v) for k, v in data.items()}

    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    commit = sh(f"git -C '{root}' rev-parse --short HEAD")
    dirty = sh(f"git -C '{root}' status --porcelain --untracked-files=no -- Sources Examples Package.swift")
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    o = []
    o.append("# Breakwater vs gRPC C++: comparison benchmarks\n")
    o.append("Written by `Benchmarks/compare.sh` (do not edit by hand; rerun the script). "
             f"Medians over {rounds} rounds; every implementation runs in the same run, alternating case by case.\n")
    o.append("- **Date:** " + now)
    o.append(f"- **Command:** `{command}`")
    o.append(f"- **Machine:** {sh('nproc')} CPUs ({cpu}), {platform.system()} {platform.release()}; "
             "client and server share the machine (loopback, no pinning); another workload may share the cores.")
    o.append(f"- **Breakwater:** commit {commit}{' (library sources modified)' if dirty else ''}, release build; "
             f"{sh('swift --version 2>&1 | head -1')}")
    o.append(f"- **gRPC C++:** {sh('pkg-config --modversion grpc++')} (Debian libgrpc++-dev), callback API, g++ -O2 "
             "(`Benchmarks/Peers/cpp`)")
    o.append(f"- **Load:** {sh('h2load --version 2>&1 | head -1')}; unary `/echo.Echo/Get`, 16-byte text `breakwater-bench`\n")

    o.append("## Results\n")
    o.append("Ratio = Breakwater / C++. For requests/s higher is better (target >= 1.0); "
             "for latency lower is better (target <= 1.0).\n")
    o.append("| Case | Metric | Breakwater | gRPC C++ | Ratio BW / C++ | grpc-swift 2 |")
    o.append("|---|---|---:|---:|---:|---:|")
    for case, title, kind in CASES:
        for metric, label, _ in METRICS:
            bw, cc = med.get((case, "breakwater", metric)), med.get((case, "cpp", metric))
            if bw is None and cc is None:
                continue
            ratio = f"{bw / cc:.2f}x" if bw is not None and cc and metric != "errors" else "-"
            o.append(f"| {title} | {label} | {fmt(bw)} | {fmt(cc)} | {ratio} | TODO |")
    o.append("")
    o.append("How each figure is taken:\n")
    o.append(f"- **Server rows:** `h2load -t 1 -c C -m S -D <s> --warm-up-time=<s>` against each server (Breakwater's "
             "`echo-server`, the C++ `echo_server`), body = 5-byte gRPC prefix + serialized `EchoRequest`, headers "
             "`content-type: application/grpc`, `te: trailers`. requests/s and mean latency are h2load's "
             "(`req/s`, `time for request` mean); p50/p99 come from h2load's per-request `--log-file`. "
             "h2load counts any HTTP 200 as success, so each round first makes one `nghttp -v` call per server and "
             "requires the echoed text and `grpc-status: 0` in the trailers; a non-200 row in the log counts as an error.")
    o.append("- **Client rows:** both clients against the C++ server, one connection, closed loop, every response text "
             "checked. Breakwater: `echo-bench throughput --target ... --concurrency 64 --duration-ms <ms>` "
             "(measures concurrency 64, then 1, on the same connection after a 200 ms warm-up; its errors figure "
             "covers both). C++: `echo_load --target ... --concurrency C --duration <s> --payload 16` "
             "(200 ms warm-up). Neither prints a mean, so that row is absent.\n")

    o.append("## Per-round values\n")
    o.append("| Case | Impl | Metric | Rounds |")
    o.append("|---|---|---|---|")
    for (case, impl, metric), values in sorted(data.items()):
        o.append(f"| {case} | {impl} | {metric} | {' '.join(fmt(v) for v in values)} |")
    o.append("")

    o.append("## TODO: grpc-swift 2 peer\n")
    o.append("Not measured yet: `Benchmarks/Peers/grpc-swift/` (grpc-swift-2 2.4.3, grpc-swift-nio-transport 2.9.2, "
             "grpc-swift-protobuf 2.4.1; echo server + load client, release build, generated code committed) needs a "
             "long release build and is the next increment. The targets against it (server 4x16 >= 4x, clients >= 4x) "
             "are therefore unchecked. Also still missing from issue 5: server-streaming throughput (messages/s), "
             "the Breakwater load generator package with `--payload/--requests/--tls` and an HDR histogram, the "
             "microbenchmarks, and the memory targets.")
    print("\n".join(o))


def main():
    mode = sys.argv[1]
    if mode == "h2load":
        parse_h2load(sys.argv[2], sys.argv[3])
    elif mode == "echo-bench":
        parse_echo_bench(sys.argv[2])
    elif mode == "echo-load":
        parse_echo_load(sys.argv[2])
    elif mode == "report":
        report(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
