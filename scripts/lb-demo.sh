#!/usr/bin/env bash
# The load-balancing demo: three echo-server replicas on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (all of
# 127/8 is this machine), one echo-client spreading Get calls over them with round_robin and ejecting a
# replica after 3 failures in a row. Replica 2 is killed (SIGKILL) after 2 s: its connection drops, it
# goes TRANSIENT_FAILURE and calls go to the other two. After 4 s it is restarted on the same port with
# --fail-first 3: it reconnects, fails its first 3 calls, is ejected for 2 s, and then returns.
# The client prints every endpoint event (added, connectivity, ejected, returned) as it happens, one line
# per call, and at the end each endpoint's calls.
#
# Usage: scripts/lb-demo.sh [--lb round_robin|pick_first|least_request] [--count N] [--interval-ms MS] [echo-client options...]
set -euo pipefail
cd "$(dirname "$0")/.."

lb=round_robin
count=100
interval=100
client_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --lb) lb="$2"; shift 2 ;;
    --count) count="$2"; shift 2 ;;
    --interval-ms) interval="$2"; shift 2 ;;
    -h|--help) sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) client_args+=("$1"); shift ;;
  esac
done

scripts/bootstrap.sh
build() {
  local out
  if ! out="$(swift build --product "$1" 2>&1)"; then echo "$out"; exit 1; fi
  echo "$out" | tail -n 1
}
build echo-server
build echo-client
bin="$(swift build --show-bin-path)"

dir="$(mktemp -d)"
pids=()
cleanup() {
  for pid in ${pids[@]+"${pids[@]}"}; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

# start_replica N HOST PORT [echo-server options...]: starts it, sets pid_N and port_N.
start_replica() {
  local n="$1" host="$2" port="$3"
  shift 3
  "$bin/echo-server" --host "$host" --port "$port" --announce-port "$@" >"$dir/replica$n.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 100); do grep -q '^PORT ' "$dir/replica$n.log" && break; sleep 0.1; done
  local bound
  bound="$(sed -n 's/^PORT //p' "$dir/replica$n.log")"
  [ -n "$bound" ] || { echo "lb-demo: replica $n did not start"; cat "$dir/replica$n.log"; exit 1; }
  eval "pid_$n=$pid; port_$n=$bound"
  echo "replica $n: $(sed -n '2p' "$dir/replica$n.log") (pid $pid)"
}

start_replica 1 127.0.0.1 0
start_replica 2 127.0.0.2 0
start_replica 3 127.0.0.3 0
target="ipv4:127.0.0.1:$port_1,127.0.0.2:$port_2,127.0.0.3:$port_3"

echo
echo "\$ echo-client --target $target --lb $lb --eject-after 3 --ejection-ms 2000 --count $count --interval-ms $interval ${client_args[*]:-}"
"$bin/echo-client" --target "$target" --lb "$lb" --eject-after 3 --ejection-ms 2000 --mode get \
  --count "$count" --interval-ms "$interval" --timeout-ms 1000 ${client_args[@]+"${client_args[@]}"} &
client=$!

# Replica 2's fate: killed at 2 s, restarted (failing its first 3 calls) at 4 s.
sleep 2
echo ">>> killing replica 2 (SIGKILL, pid $pid_2)"
kill -KILL "$pid_2"
wait "$pid_2" 2>/dev/null || true
sleep 2
echo ">>> restarting replica 2 on 127.0.0.2:$port_2 with --fail-first 3"
"$bin/echo-server" --host 127.0.0.2 --port "$port_2" --fail-first 3 >"$dir/replica2b.log" 2>&1 &
pids+=($!)
wait "$client" || true
