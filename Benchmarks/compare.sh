#!/usr/bin/env bash
# Breakwater vs its peers (gRPC C++, grpc-swift 2), side by side, in one run on one machine;
# writes Benchmarks/BENCHMARKS.md.
#
#   Benchmarks/compare.sh            (from anywhere; about 5 minutes with 3 rounds once everything is built)
#
# Environment knobs (defaults are what BENCHMARKS.md records):
#   ROUNDS=3                rounds; every figure in the table is the median over them
#   SERVER_SECONDS=4        h2load measuring time per server case     WARMUP_SECONDS=1  h2load warm-up
#   CLIENT_SECONDS=3        client measuring time per unary case      CLIENT_WARMUP=0.5 client warm-up (s)
#   STREAM_SECONDS=3        measuring time per server-streaming case  STREAM_MESSAGES=1000
#   SERVER_SHAPES="1x1 4x16"   CLIENT_CONCURRENCY="1 64"   STREAM_CONCURRENCY="1 8"
#   OUT=Benchmarks/.out     logs, raw outputs and results.tsv
#   GRPCSWIFT=0             leave grpc-swift 2 out (its first release build takes about 25 minutes)
#   GRPCSWIFT_BIN=DIR       use the prebuilt gs-echo-server and gs-echo-load in DIR instead of building
#                           Peers/grpc-swift (build them once, then copy them out of Peers/grpc-swift/.build/release)
#   PIN="S C"               run every server on CPUs S and every client and h2load on CPUs C (taskset lists,
#                           e.g. PIN="0 1"); unset: no pinning, where the scheduler places the threads. On VMs
#                           whose idle vCPUs wake slowly that placement moves the figures more than the code
#                           does (see Benchmarks/README.md); a pinned run shows the code with placement fixed
#   BW_IDLE_POLL_US=N       Breakwater's server and clients run loops that poll up to N us before they sleep
#                           (echo-server and breakwater-load --idle-poll-us N, 1..1000); unset: the default, no
#                           polling. The peers run as always, so such a run compares a tuned Breakwater with them
#
# What it does:
#   1. builds what is missing or stale: apt packages (libgrpc++-dev protobuf-compiler-grpc nghttp2-client),
#      Breakwater's echo-server, breakwater-load (Benchmarks/Package.swift),
#      the gRPC C++ peer (Peers/cpp/Makefile) and the grpc-swift 2 peer (Peers/grpc-swift) when its package
#      exists. An implementation that is absent or does not build is reported as "not measured: <why>".
#   2. starts every server (each prints "PORT n"), then for each round runs every case below, alternating the
#      implementations within the case and rotating which one goes first from round to round:
#      - server-RxS: h2load, unary /echo.Echo/Get with a 16-byte text, R connections x S streams, against each
#        server. h2load counts any HTTP 200 as success, so each round first makes one `nghttp -v` call per server
#        that must echo the text and end with `grpc-status: 0`, and h2load's per-request log must hold only 200s;
#      - client-cC: each client, unary, concurrency C on one connection, against the C++ server;
#      - stream-client-cC: each client in expand mode (server-streaming Expand, STREAM_MESSAGES responses per
#        call) against the C++ server; stream-server-cC: the C++ client in expand mode against each server.
#        (C++ client -> C++ server is measured once and belongs to both.)
#      - client-loop-cC, stream-client-loop-cC: the same with Breakwater's callers on the connection's event loop
#        (breakwater-load --prefer-loop), as the C++ callback API runs its callers on gRPC's threads; the peers'
#        figures in these rows are the same runs as in client-cC and stream-client-cC.
#      Every client checks every response and prints one line of key=value figures (the shared client CLI below).
#   3. summarize.py: medians over the rounds, ratios Breakwater / peer, targets -> BENCHMARKS.md.
#
# Shared client CLI (breakwater-load, echo_load, gs-echo-load):
#   CLIENT --target host:port --concurrency C --duration S --payload 16 [--warmup S] [--mode unary|expand]
#          [--stream-messages M]
#   -> qps= p50_us= p90_us= p99_us= max_us= calls= errors= concurrency= payload= cpu_s= peak_rss_kb=
#      (+ msgs_per_s= stream_messages= in expand mode)
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
ROUNDS="${ROUNDS:-3}"
SERVER_SECONDS="${SERVER_SECONDS:-4}"
WARMUP_SECONDS="${WARMUP_SECONDS:-1}"
CLIENT_SECONDS="${CLIENT_SECONDS:-3}"
CLIENT_WARMUP="${CLIENT_WARMUP:-0.5}"
STREAM_SECONDS="${STREAM_SECONDS:-3}"
STREAM_MESSAGES="${STREAM_MESSAGES:-1000}"
SERVER_SHAPES="${SERVER_SHAPES:-1x1 4x16}"
CLIENT_CONCURRENCY="${CLIENT_CONCURRENCY:-1 64}"
STREAM_CONCURRENCY="${STREAM_CONCURRENCY:-1 8}"
OUT="${OUT:-$BENCH_DIR/.out}"
PIN="${PIN:-}"
BW_IDLE_POLL_US="${BW_IDLE_POLL_US:-}"
KNOBS="ROUNDS=$ROUNDS${PIN:+ PIN='$PIN'}${BW_IDLE_POLL_US:+ BW_IDLE_POLL_US=$BW_IDLE_POLL_US}${GRPCSWIFT:+ GRPCSWIFT=$GRPCSWIFT}${GRPCSWIFT_BIN:+ GRPCSWIFT_BIN=$GRPCSWIFT_BIN} SERVER_SECONDS=$SERVER_SECONDS WARMUP_SECONDS=$WARMUP_SECONDS CLIENT_SECONDS=$CLIENT_SECONDS"
KNOBS+=" CLIENT_WARMUP=$CLIENT_WARMUP STREAM_SECONDS=$STREAM_SECONDS STREAM_MESSAGES=$STREAM_MESSAGES"
KNOBS+=" SERVER_SHAPES='$SERVER_SHAPES' CLIENT_CONCURRENCY='$CLIENT_CONCURRENCY' STREAM_CONCURRENCY='$STREAM_CONCURRENCY'"
COMMAND="$KNOBS Benchmarks/compare.sh${*:+ $*}"

log() { printf '[compare] %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# (results.tsv and notes.tsv start empty; the other files of a previous run are overwritten case by case)
mkdir -p "$OUT"
RESULTS="$OUT/results.tsv"   # case impl metric round value
NOTES="$OUT/notes.tsv"       # key value: what the report says besides the figures (not-measured reasons, binaries)
: > "$RESULTS"
: > "$NOTES"
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >> "$RESULTS"; }
note() { printf '%s\t%s\n' "$1" "$2" >> "$NOTES"; }
not_measured() { log "not measured: $1 $2: $3"; note "not_measured.$1.$2" "$3"; }  # impl role why
START_S=$SECONDS
# PIN: the taskset prefixes of servers and of clients (empty: no pinning).
SERVER_PIN=() CLIENT_PIN=()
if [[ -n "$PIN" ]]; then
    read -r pin_server pin_client pin_rest <<<"$PIN"
    [[ -n "${pin_client:-}" && -z "${pin_rest:-}" ]] || die "PIN must be two CPU lists, servers' then clients' (e.g. PIN=\"0 1\"), not '$PIN'"
    command -v taskset >/dev/null || die "PIN needs taskset (util-linux)"
    taskset -c "$pin_server" true 2>/dev/null || die "PIN: cannot run on CPUs '$pin_server'"
    taskset -c "$pin_client" true 2>/dev/null || die "PIN: cannot run on CPUs '$pin_client'"
    SERVER_PIN=(taskset -c "$pin_server") CLIENT_PIN=(taskset -c "$pin_client")
    note pin "servers on CPUs $pin_server, clients and h2load on CPUs $pin_client (taskset)"
fi
# BW_IDLE_POLL_US: the flag Breakwater's server and clients get (empty: none, the default).
BW_IDLE_FLAG=""
if [[ -n "$BW_IDLE_POLL_US" ]]; then
    [[ "$BW_IDLE_POLL_US" =~ ^[0-9]+$ ]] && (( BW_IDLE_POLL_US >= 1 && BW_IDLE_POLL_US <= 1000 )) \
        || die "BW_IDLE_POLL_US must be a whole number of microseconds in 1..1000, not '$BW_IDLE_POLL_US'"
    BW_IDLE_FLAG=" --idle-poll-us $BW_IDLE_POLL_US"
    note idle_poll "Breakwater's event loops poll up to ${BW_IDLE_POLL_US} us before they sleep (--idle-poll-us; not the default)"
fi
note load_before "$(cut -d' ' -f1-3 /proc/loadavg)"

# --- the implementations --------------------------------------------------------------------------------------
# Data, not code: IMPLS is the column order; SERVER_CMD / CLIENT_CMD hold each one's server start command and
# client command prefix (the shared client CLI is appended). Paths must not contain spaces. An implementation
# without an entry is not measured in that role, and NOTES says why.
IMPLS=(breakwater breakwater-loop cpp grpcswift)
declare -A SERVER_CMD=() CLIENT_CMD=()

# --- 1. build what is missing ---------------------------------------------------------------------------------
need_apt=()
command -v h2load >/dev/null && command -v nghttp >/dev/null || need_apt+=(nghttp2-client)
pkg-config --exists grpc++ protobuf 2>/dev/null || need_apt+=(libgrpc++-dev)
command -v grpc_cpp_plugin >/dev/null && command -v protoc >/dev/null || need_apt+=(protobuf-compiler-grpc)
command -v g++ >/dev/null && command -v make >/dev/null || need_apt+=(g++ make)
if ((${#need_apt[@]})); then
    log "installing ${need_apt[*]}"
    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}") >"$OUT/apt.log" 2>&1 \
        || die "apt-get install ${need_apt[*]} (see $OUT/apt.log)"
fi

# up_to_date BINARY PATH...: the binary exists and no file under PATH... (outside .build*) is newer than it.
up_to_date() {
    local bin="$1"; shift
    [[ -x "$bin" ]] || return 1
    [[ -z "$(find "$@" -newer "$bin" -type f -not -path '*/.build*' -not -name Package.resolved 2>/dev/null | head -1)" ]]
}

# swift_build NAME BINARY PACKAGE_DIR [--product P]: release build unless BINARY is newer than the package's
# sources and Breakwater's (the Benchmarks package depends on the library).
swift_build() {
    local name="$1" bin="$2" pkg="$3"; shift 3
    if up_to_date "$bin" "$ROOT/Package.swift" "$ROOT/Sources" "$ROOT/Examples" "$pkg/Package.swift" "$pkg/Sources"; then
        log "up to date: ${bin#"$ROOT/"}"
        return 0
    fi
    log "swift build -c release --package-path ${pkg#"$ROOT/"} $*  (log: $OUT/build-$name.log)"
    swift build -c release --package-path "$pkg" "$@" >"$OUT/build-$name.log" 2>&1 && [[ -x "$bin" ]]
}

# Breakwater server: required.
BW_SERVER="$ROOT/.build/release/echo-server"
swift_build echo-server "$BW_SERVER" "$ROOT" --product echo-server || die "swift build echo-server (see $OUT/build-echo-server.log)"
SERVER_CMD[breakwater]="$BW_SERVER --port 0 --announce-port$BW_IDLE_FLAG"

# Breakwater client: breakwater-load from the Benchmarks package.
BW_LOAD="$BENCH_DIR/.build/release/breakwater-load"
swift_build breakwater-load "$BW_LOAD" "$BENCH_DIR" --product breakwater-load \
    || die "swift build breakwater-load (see $OUT/build-breakwater-load.log)"
CLIENT_CMD[breakwater]="$BW_LOAD$BW_IDLE_FLAG"
note client.breakwater "breakwater-load (Benchmarks/Sources)"
# The same client with each caller's task preferring its connection's event loop as executor: a call then
# starts, and its answer resumes the caller, on the loop's thread, as a C++ callback starts the next call on
# the thread that completed the last one. A client role only; its rows are recorded as Breakwater's.
CLIENT_CMD[breakwater-loop]="$BW_LOAD --prefer-loop$BW_IDLE_FLAG"

# gRPC C++: required (its server is the reference server of every client case).
log "make -C Benchmarks/Peers/cpp"
make -C "$BENCH_DIR/Peers/cpp" -j"$(nproc)" >"$OUT/build-cpp.log" 2>&1 || die "C++ peer build (see $OUT/build-cpp.log)"
SERVER_CMD[cpp]="$BENCH_DIR/Peers/cpp/build/echo_server --port 0"
CLIENT_CMD[cpp]="$BENCH_DIR/Peers/cpp/build/echo_load"

# grpc-swift 2: measured when its package is in this checkout and builds.
GS_DIR="$BENCH_DIR/Peers/grpc-swift"
GS_SERVER="$GS_DIR/.build/release/gs-echo-server"
GS_LOAD="$GS_DIR/.build/release/gs-echo-load"
if [[ -n "${GRPCSWIFT_BIN:-}" && "${GRPCSWIFT:-1}" != 0 ]]; then
    # Prebuilt binaries: nothing to build; the report names where they came from.
    GS_SERVER="$GRPCSWIFT_BIN/gs-echo-server"
    GS_LOAD="$GRPCSWIFT_BIN/gs-echo-load"
    note grpcswift_bin "$GRPCSWIFT_BIN"
    log "grpc-swift 2: prebuilt binaries from $GRPCSWIFT_BIN"
    if [[ -x "$GS_SERVER" ]]; then SERVER_CMD[grpcswift]="$GS_SERVER --port 0"
    else not_measured grpcswift server "no executable gs-echo-server in GRPCSWIFT_BIN=$GRPCSWIFT_BIN"; fi
    if [[ -x "$GS_LOAD" ]]; then CLIENT_CMD[grpcswift]="$GS_LOAD"
    else not_measured grpcswift client "no executable gs-echo-load in GRPCSWIFT_BIN=$GRPCSWIFT_BIN"; fi
elif [[ "${GRPCSWIFT:-1}" == 0 ]]; then
    for role in server client; do
        not_measured grpcswift "$role" "left out of this run (GRPCSWIFT=0)"
    done
elif [[ ! -f "$GS_DIR/Package.swift" ]]; then
    for role in server client; do
        not_measured grpcswift "$role" "Benchmarks/Peers/grpc-swift/Package.swift is not in this checkout (the peer is not merged yet)"
    done
elif ! { up_to_date "$GS_SERVER" "$GS_DIR/Package.swift" "$GS_DIR/Sources" && up_to_date "$GS_LOAD" "$GS_DIR/Package.swift" "$GS_DIR/Sources"; } \
        && ! { log "swift build -c release --package-path Benchmarks/Peers/grpc-swift  (long the first time; log: $OUT/build-grpcswift.log)"
               swift build -c release --package-path "$GS_DIR" >"$OUT/build-grpcswift.log" 2>&1; }; then
    for role in server client; do
        not_measured grpcswift "$role" "its release build failed (Benchmarks/.out/build-grpcswift.log)"
    done
else
    if [[ -x "$GS_SERVER" ]]; then SERVER_CMD[grpcswift]="$GS_SERVER --port 0"
    else not_measured grpcswift server "no gs-echo-server after the build"; fi
    if [[ -x "$GS_LOAD" ]]; then CLIENT_CMD[grpcswift]="$GS_LOAD"
    else not_measured grpcswift client "no gs-echo-load after the build"; fi
fi
note build_s "$((SECONDS - START_S))"

# --- servers --------------------------------------------------------------------------------------------------
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
declare -A PORT=()

start_server() {  # impl: runs SERVER_CMD[impl], waits for "PORT n"
    local impl="$1" out="$OUT/server-$1.out" cmd
    read -ra cmd <<<"${SERVER_CMD[$impl]}"
    "${SERVER_PIN[@]}" "${cmd[@]}" >"$out" 2>"$OUT/server-$impl.err" &
    PIDS+=($!)
    local port=""
    for _ in $(seq 300); do
        port="$(awk '/^PORT /{print $2; exit}' "$out" 2>/dev/null || true)"
        [[ -n "$port" ]] && break
        kill -0 "${PIDS[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    [[ -n "$port" ]] || die "$impl server announced no port (see $OUT/server-$impl.err)"
    PORT[$impl]="$port"
    log "$impl server on 127.0.0.1:$port"
}

SERVERS=() CLIENTS=()
for impl in "${IMPLS[@]}"; do
    if [[ -n "${SERVER_CMD[$impl]:-}" ]]; then SERVERS+=("$impl"); start_server "$impl"; fi
    if [[ -n "${CLIENT_CMD[$impl]:-}" ]]; then CLIENTS+=("$impl"); fi
done

TEXT="breakwater-bench"   # 16 bytes, the text every client sends
BODY="$OUT/get-body.bin"  # gRPC frame: flag 0, length 18 (big-endian); EchoRequest: field 1 (0x0a), length 16
printf '\x00\x00\x00\x00\x12\x0a\x10%s' "$TEXT" > "$BODY"
[[ "$(wc -c < "$BODY")" -eq 23 ]] || die "body file is not 23 bytes"
HDRS=(-H 'content-type: application/grpc' -H 'te: trailers')

check_grpc_ok() {  # impl: one real call, must echo the text and end with grpc-status 0
    local impl="$1" out="$OUT/nghttp-$1.txt"
    nghttp -v -d "$BODY" "${HDRS[@]}" "http://127.0.0.1:${PORT[$impl]}/echo.Echo/Get" >"$out" 2>&1 || die "nghttp call to $impl failed (see $out)"
    grep -aq 'grpc-status: 0' "$out" || die "$impl did not answer grpc-status: 0 (see $out)"
    grep -aq "$TEXT" "$out" || die "$impl did not echo the text (see $out)"
}

as_ms() { awk -v s="$1" 'BEGIN { printf "%dms", s * 1000 }'; }  # h2load durations are integers with a unit

h2load_run() {  # case impl round conns streams
    local case="$1" impl="$2" round="$3" conns="$4" streams="$5"
    local out="$OUT/$case-$impl-$round.txt" reqlog="$OUT/$case-$impl-$round.log"
    log "round $round/$ROUNDS: $case: h2load -c $conns -m $streams -> $impl server"
    "${CLIENT_PIN[@]}" h2load -t 1 -c "$conns" -m "$streams" -D "$(as_ms "$SERVER_SECONDS")" --warm-up-time="$(as_ms "$WARMUP_SECONDS")" --log-file="$reqlog" \
        -d "$BODY" "${HDRS[@]}" "http://127.0.0.1:${PORT[$impl]}/echo.Echo/Get" >"$out" 2>&1 || die "h2load $case $impl (see $out)"
    python3 "$BENCH_DIR/summarize.py" h2load "$out" "$reqlog" | while read -r metric value; do
        record "$case" "$impl" "$metric" "$round" "$value"
    done
    rm -f "$reqlog"
}

# client_run CASE AS CLIENT SERVER ROUND SECONDS CONCURRENCY MODE [ALSO_CASE ALSO_AS]...: one client run, checked
# by the client itself; its figures are recorded under CASE for implementation AS (and under every further
# ALSO_CASE/ALSO_AS pair given).
client_run() {
    local case="$1" as="$2" client="$3" server="$4" round="$5" seconds="$6" conc="$7" mode="$8"
    shift 8
    local also=("$@")
    local out="$OUT/$case-$client-$server-$round.txt" cmd
    read -ra cmd <<<"${CLIENT_CMD[$client]}"
    log "round $round/$ROUNDS: $case: $client client ($mode, concurrency $conc) -> $server server"
    local limit; limit="$(python3 -c "print(int(float('$seconds') + float('$CLIENT_WARMUP')) + 60)")"
    local rc=0
    timeout "$limit" "${CLIENT_PIN[@]}" "${cmd[@]}" --target "127.0.0.1:${PORT[$server]}" --concurrency "$conc" --duration "$seconds" \
        --payload 16 --warmup "$CLIENT_WARMUP" --mode "$mode" --stream-messages "$STREAM_MESSAGES" >"$out" 2>&1 || rc=$?
    # A client exits non-zero when a response was wrong; its line (errors=N) still counts and shows in the table.
    python3 "$BENCH_DIR/summarize.py" client "$out" "$mode" >"$out.kv" || die "$client client printed no figures (exit $rc; see $out)"
    local metric value i
    while read -r metric value; do
        record "$case" "$as" "$metric" "$round" "$value"
        for ((i = 0; i + 1 < ${#also[@]}; i += 2)); do record "${also[i]}" "${also[i + 1]}" "$metric" "$round" "$value"; done
    done <"$out.kv"
}


rotated() {  # round impl...: the impls, starting with the (round-1)-th, so no implementation is always first
    local r="$1"; shift
    local n=$# i
    local list=("$@")
    for ((i = 0; i < n; i++)); do printf '%s\n' "${list[$(((r - 1 + i) % n))]}"; done
}

BENCH_START_S=$SECONDS
for round in $(seq "$ROUNDS"); do
    mapfile -t servers < <(rotated "$round" "${SERVERS[@]}")
    mapfile -t clients < <(rotated "$round" "${CLIENTS[@]}")
    for s in "${servers[@]}"; do check_grpc_ok "$s"; done

    # Servers under h2load, unary.
    for shape in $SERVER_SHAPES; do
        for impl in "${servers[@]}"; do
            h2load_run "server-$shape" "$impl" "$round" "${shape%x*}" "${shape#*x}"
        done
    done

    # Clients against the C++ server, unary. breakwater-loop is Breakwater in the *-loop-* cases, whose peer
    # figures are the peers' runs of the plain case.
    for c in $CLIENT_CONCURRENCY; do
        for impl in "${clients[@]}"; do
            case "$impl" in
                breakwater-loop) client_run "client-loop-c$c" breakwater "$impl" cpp "$round" "$CLIENT_SECONDS" "$c" unary ;;
                breakwater) client_run "client-c$c" "$impl" "$impl" cpp "$round" "$CLIENT_SECONDS" "$c" unary ;;
                *) client_run "client-c$c" "$impl" "$impl" cpp "$round" "$CLIENT_SECONDS" "$c" unary "client-loop-c$c" "$impl" ;;
            esac
        done
    done

    # Server streaming: each client against the C++ server, then the C++ client against each other server.
    for c in $STREAM_CONCURRENCY; do
        for impl in "${clients[@]}"; do
            case "$impl" in
                cpp) client_run "stream-client-c$c" cpp cpp cpp "$round" "$STREAM_SECONDS" "$c" expand \
                         "stream-client-loop-c$c" cpp "stream-server-c$c" cpp ;;
                breakwater-loop) client_run "stream-client-loop-c$c" breakwater "$impl" cpp "$round" "$STREAM_SECONDS" "$c" expand ;;
                breakwater) client_run "stream-client-c$c" "$impl" "$impl" cpp "$round" "$STREAM_SECONDS" "$c" expand ;;
                *) client_run "stream-client-c$c" "$impl" "$impl" cpp "$round" "$STREAM_SECONDS" "$c" expand \
                       "stream-client-loop-c$c" "$impl" ;;
            esac
        done
        for impl in "${servers[@]}"; do
            [[ "$impl" == cpp ]] && continue
            client_run "stream-server-c$c" "$impl" cpp "$impl" "$round" "$STREAM_SECONDS" "$c" expand
        done
    done
done
note bench_s "$((SECONDS - BENCH_START_S))"
note load_after "$(cut -d' ' -f1-3 /proc/loadavg)"

cleanup
trap - EXIT
PIDS=()

python3 "$BENCH_DIR/summarize.py" report "$RESULTS" "$NOTES" "$COMMAND" "$ROUNDS" > "$BENCH_DIR/BENCHMARKS.md"
log "wrote Benchmarks/BENCHMARKS.md ($((SECONDS - START_S)) s in all, $((SECONDS - BENCH_START_S)) s measuring)"
