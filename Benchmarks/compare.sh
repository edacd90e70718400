#!/usr/bin/env bash
# Breakwater vs its peers, side by side, in one run on one machine; writes Benchmarks/BENCHMARKS.md.
#
#   Benchmarks/compare.sh            (from anywhere; takes about 3-4 minutes once everything is built)
#
# Environment knobs (defaults are what BENCHMARKS.md records):
#   ROUNDS=3  SERVER_SECONDS=4  WARMUP_SECONDS=1  CLIENT_SECONDS=3  OUT=Benchmarks/.out
#
# What it does:
#   1. builds what is missing: apt packages (libgrpc++-dev protobuf-compiler-grpc nghttp2-client), Breakwater's
#      echo-server and echo-bench in release (one product per `swift build`, since `--product A --product B`
#      builds only B), and the gRPC C++ peer (Peers/cpp/Makefile);
#   2. servers: both servers run side by side; each round alternates the implementations for every case:
#      h2load, unary /echo.Echo/Get with a 16-byte text, 1 connection x 1 stream and 4 connections x 16 streams.
#      h2load counts any HTTP 200 as success, so before each round one `nghttp -v` call per server must show
#      the echoed text and `grpc-status: 0`, and h2load's per-request log must hold only 200s;
#   3. clients: Breakwater's echo-bench and the C++ echo_load, alternating, both against the C++ server, at
#      concurrency 1 and 64 on one connection; both check every response text;
#   4. medians over the rounds, ratios Breakwater / C++ -> BENCHMARKS.md (via summarize.py).
#
# TODO(grpc-swift 2 peer): not measured yet. Peers/grpc-swift/ (grpc-swift-2 2.4.3, grpc-swift-nio-transport
# 2.9.2, grpc-swift-protobuf 2.4.1, generated code committed) needs a long release build; add it as a third
# implementation in the server loop and the client loop below, and as a column in summarize.py.
# TODO(streaming): server-streaming throughput (messages/s, Expand) Breakwater vs C++ is not measured yet.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
ROUNDS="${ROUNDS:-3}"
SERVER_SECONDS="${SERVER_SECONDS:-4}"
WARMUP_SECONDS="${WARMUP_SECONDS:-1}"
CLIENT_SECONDS="${CLIENT_SECONDS:-3}"
OUT="${OUT:-$BENCH_DIR/.out}"
COMMAND="Benchmarks/compare.sh${*:+ $*}  (ROUNDS=$ROUNDS SERVER_SECONDS=$SERVER_SECONDS WARMUP_SECONDS=$WARMUP_SECONDS CLIENT_SECONDS=$CLIENT_SECONDS)"

log() { printf '[compare] %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

mkdir -p "$OUT"
RESULTS="$OUT/results.tsv"
: > "$RESULTS"
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >> "$RESULTS"; }  # case impl metric round value

# --- 1. build what is missing ---------------------------------------------------------------------------------
need_apt=()
command -v h2load >/dev/null && command -v nghttp >/dev/null || need_apt+=(nghttp2-client)
pkg-config --exists grpc++ protobuf 2>/dev/null || need_apt+=(libgrpc++-dev)
command -v grpc_cpp_plugin >/dev/null && command -v protoc >/dev/null || need_apt+=(protobuf-compiler-grpc)
if ((${#need_apt[@]})); then
    log "installing ${need_apt[*]}"
    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}") >"$OUT/apt.log" 2>&1 \
        || die "apt-get install ${need_apt[*]} (see $OUT/apt.log)"
fi

cd "$ROOT"
for product in echo-server echo-bench; do
    log "swift build -c release --product $product"
    swift build -c release --product "$product" >"$OUT/build-$product.log" 2>&1 || die "swift build $product (see $OUT/build-$product.log)"
done
BIN="$(swift build -c release --show-bin-path)"
BW_SERVER="$BIN/echo-server"
BW_BENCH="$BIN/echo-bench"
log "make -C Benchmarks/Peers/cpp"
make -C "$BENCH_DIR/Peers/cpp" -j"$(nproc)" >"$OUT/build-cpp.log" 2>&1 || die "C++ peer build (see $OUT/build-cpp.log)"
CPP_SERVER="$BENCH_DIR/Peers/cpp/build/echo_server"
CPP_LOAD="$BENCH_DIR/Peers/cpp/build/echo_load"

# --- servers --------------------------------------------------------------------------------------------------
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# start_server NAME CMD... ; sets PORT_<NAME>
start_server() {
    local name="$1"; shift
    local out="$OUT/server-$name.out"
    "$@" >"$out" 2>"$OUT/server-$name.err" &
    PIDS+=($!)
    local port=""
    for _ in $(seq 100); do
        port="$(awk '/^PORT /{print $2; exit}' "$out" 2>/dev/null || true)"
        [[ -n "$port" ]] && break
        sleep 0.1
    done
    [[ -n "$port" ]] || die "$name server announced no port (see $OUT/server-$name.err)"
    printf -v "PORT_$name" '%s' "$port"
    log "$name server on 127.0.0.1:$port"
}
start_server breakwater "$BW_SERVER" --port 0 --announce-port
start_server cpp "$CPP_SERVER" --port 0

TEXT="breakwater-bench"   # 16 bytes, the same text echo-bench and echo_load send
BODY="$OUT/get-body.bin"  # gRPC frame: flag 0, length 18 (big-endian); EchoRequest: field 1 (0x0a), length 16
printf '\x00\x00\x00\x00\x12\x0a\x10%s' "$TEXT" > "$BODY"
[[ "$(wc -c < "$BODY")" -eq 23 ]] || die "body file is not 23 bytes"
HDRS=(-H 'content-type: application/grpc' -H 'te: trailers')

check_grpc_ok() {  # impl port: one real call, must echo the text and end with grpc-status 0
    local out="$OUT/nghttp-$1.txt"
    nghttp -v -d "$BODY" "${HDRS[@]}" "http://127.0.0.1:$2/echo.Echo/Get" >"$out" 2>&1 || die "nghttp call to $1 failed (see $out)"
    grep -aq 'grpc-status: 0' "$out" || die "$1 did not answer grpc-status: 0 (see $out)"
    grep -aq "$TEXT" "$out" || die "$1 did not echo the text (see $out)"
}

h2load_run() {  # case impl round port conns streams
    local case="$1" impl="$2" round="$3" port="$4" conns="$5" streams="$6"
    local out="$OUT/h2load-$case-$impl-$round.txt" reqlog="$OUT/h2load-$case-$impl-$round.log"
    h2load -t 1 -c "$conns" -m "$streams" -D "$SERVER_SECONDS" --warm-up-time="$WARMUP_SECONDS" --log-file="$reqlog" \
        -d "$BODY" "${HDRS[@]}" "http://127.0.0.1:$port/echo.Echo/Get" >"$out" 2>&1 || die "h2load $case $impl (see $out)"
    python3 "$BENCH_DIR/summarize.py" h2load "$out" "$reqlog" | while read -r metric value; do
        record "$case" "$impl" "$metric" "$round" "$value"
    done
    rm -f "$reqlog"
}

for round in $(seq "$ROUNDS"); do
    check_grpc_ok breakwater "$PORT_breakwater"
    check_grpc_ok cpp "$PORT_cpp"
    for shape in "1 1" "4 16"; do
        read -r conns streams <<<"$shape"
        for impl in breakwater cpp; do
            port_var="PORT_$impl"
            log "round $round/$ROUNDS: h2load ${conns}x${streams} -> $impl server"
            h2load_run "server-${conns}x${streams}" "$impl" "$round" "${!port_var}" "$conns" "$streams"
        done
    done
done

# --- clients, against the C++ server --------------------------------------------------------------------------
for round in $(seq "$ROUNDS"); do
    log "round $round/$ROUNDS: echo-bench throughput (c64 then c1) -> C++ server"
    out="$OUT/client-breakwater-$round.txt"
    "$BW_BENCH" throughput --target "127.0.0.1:$PORT_cpp" --concurrency 64 --duration-ms "$((CLIENT_SECONDS * 1000))" --quiet \
        >"$out" 2>&1 || die "echo-bench (see $out)"
    python3 "$BENCH_DIR/summarize.py" echo-bench "$out" | while read -r case metric value; do
        record "$case" breakwater "$metric" "$round" "$value"
    done
    for c in 1 64; do
        log "round $round/$ROUNDS: C++ echo_load c$c -> C++ server"
        out="$OUT/client-cpp-c$c-$round.txt"
        "$CPP_LOAD" --target "127.0.0.1:$PORT_cpp" --concurrency "$c" --duration "$CLIENT_SECONDS" --payload 16 \
            >"$out" 2>&1 || die "echo_load c$c (see $out)"
        python3 "$BENCH_DIR/summarize.py" echo-load "$out" | while read -r metric value; do
            record "client-c$c" cpp "$metric" "$round" "$value"
        done
    done
done

cleanup
trap - EXIT
PIDS=()

python3 "$BENCH_DIR/summarize.py" report "$RESULTS" "$COMMAND" "$ROUNDS" > "$BENCH_DIR/BENCHMARKS.md"
log "wrote Benchmarks/BENCHMARKS.md"
