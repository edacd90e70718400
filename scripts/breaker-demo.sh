#!/usr/bin/env bash
# The circuit breaker demo: starts echo-server with injected failures, then calls Get in a loop with
# echo-client --config Examples/echo/resilience.json, so that you see the whole breaker cycle in about
# ten seconds: CLOSED -> OPEN (calls rejected in microseconds, the server not called), HALF_OPEN probes,
# and CLOSED again once the server has recovered.
#
# Usage: scripts/breaker-demo.sh [--fail-first N | --fail-rate R] [--count N] [--interval-ms MS] [--plot FILE.png] [echo-client options...]
#   --fail-first N   the server fails the first N calls of each method, then recovers (default 4)
#   --fail-rate R    the server fails this fraction of calls instead, at random (0 to 1)
#   --count N        calls to make (default 30)
#   --interval-ms MS pause between calls (default 300)
#   --plot FILE.png  also draw the run: each call's latency (log scale) and outcome over time, on bands
#                    of the breaker's state (installs matplotlib through pip the first time)
#   anything else is passed to echo-client, e.g. --fallback "cached hello" or --verbose
set -euo pipefail
cd "$(dirname "$0")/.."

faults=(--fail-first 4)
count=30
interval=300
client_args=()
plot=""
while [ $# -gt 0 ]; do
  case "$1" in
    --fail-first) faults=(--fail-first "$2"); shift 2 ;;
    --fail-rate) faults=(--fail-rate "$2"); shift 2 ;;
    --count) count="$2"; shift 2 ;;
    --interval-ms) interval="$2"; shift 2 ;;
    --plot) plot="$2"; shift 2 ;;
    -h|--help) sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) client_args+=("$1"); shift ;;
  esac
done

if [ -n "$plot" ]; then scripts/bootstrap.sh --plot; else scripts/bootstrap.sh; fi
build() {
  local out
  if ! out="$(swift build --product "$1" 2>&1)"; then echo "$out"; exit 1; fi
  echo "$out" | tail -n 1
}
build echo-server
build echo-client
bin="$(swift build --show-bin-path)"

log="$(mktemp)"
calls="$(mktemp)"
"$bin/echo-server" --port 0 --announce-port "${faults[@]}" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -f "$log" "$calls"' EXIT
for _ in $(seq 1 100); do grep -q '^PORT ' "$log" && break; sleep 0.1; done
port="$(sed -n 's/^PORT //p' "$log")"
[ -n "$port" ] || { echo "breaker-demo: echo-server did not start"; cat "$log"; exit 1; }

echo
sed -n '2p' "$log"
echo "Policy for echo.Echo/Get (Examples/echo/resilience.json): timeout 2 s; up to 3 attempts on UNAVAILABLE;"
echo "breaker opens after 3 failures in a row, probes after 1.6-2 s (2 s, less up to 20% jitter), closes after 2 successful probes."
echo "Watch for: CLOSED -> OPEN, calls rejected in microseconds and 'not sent', HALF_OPEN probes, CLOSED again."
echo
echo "\$ echo-client --config Examples/echo/resilience.json --count $count --interval-ms $interval ${client_args[*]:-}"
"$bin/echo-client" --port "$port" --config Examples/echo/resilience.json --mode get \
  --count "$count" --interval-ms "$interval" ${client_args[@]+"${client_args[@]}"} 2>&1 | tee "$calls" || true

# Stop the server: it prints how many calls it actually received.
kill -INT "$server"
wait "$server" 2>/dev/null || true
trap 'rm -f "$log" "$calls"' EXIT
echo
tail -n 1 "$log"
echo "(every call the breaker rejected is missing from the server's count: it never left the client)"
if [ -n "$plot" ]; then
  python3 scripts/plot-breaker-timeline.py "$calls" "$plot"
fi
