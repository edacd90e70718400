#!/usr/bin/env bash
# The echo demo: builds echo-server and echo-client, starts the server on a free port,
# calls it in all four modes, shows a deadline and an unreachable server, then stops the server;
# then the circuit-breaker demo, the tail-latency demo (hedging, the adaptive concurrency limit) and the
# zombie-connection demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
swift build --product echo-server
swift build --product echo-client
bin="$(swift build --show-bin-path)"

log="$(mktemp)"
"$bin/echo-server" --port 0 --announce-port >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do grep -q '^PORT ' "$log" && break; sleep 0.1; done
port="$(sed -n 's/^PORT //p' "$log")"
[ -n "$port" ] || { echo "demo: echo-server did not start"; cat "$log"; exit 1; }
sed -n '2p' "$log"

run() { echo; echo "\$ echo-client $*"; "$bin/echo-client" --port "$port" "$@" || true; }
run --mode get --text "hello breakwater"
run --mode expand --text "one two three"
run --mode collect --text "alpha beta gamma"
run --mode update --text "ping pong"
run --mode get --text "sleep:500" --timeout-ms 100
echo; echo "\$ echo-client --port 1 (nothing listens there)"; "$bin/echo-client" --port 1 || true

# Then the resilience chain: a failing server, the circuit breaker's whole cycle.
echo
echo "=== the circuit breaker against a failing server (scripts/breaker-demo.sh) ==="
kill $server 2>/dev/null || true
wait $server 2>/dev/null || true
scripts/breaker-demo.sh

# Hedging against a latency tail, and the adaptive limit against a saturated backend (about 10 s).
echo
echo "=== hedging and the adaptive concurrency limit (scripts/tail-demo.sh) ==="
scripts/tail-demo.sh

# And a connection that dies without a word: detected and replaced.
echo
echo "=== a zombie connection detected and replaced (scripts/zombie-demo.sh) ==="
BREAKWATER_SKIP_BUILD=1 scripts/zombie-demo.sh
