#!/usr/bin/env bash
# The zombie demo: echo-client calls echo-server through scripts/fault-proxy.py, which silently drops
# every byte for 3 s (nothing closes, nothing arrives). With default settings the client notices: a call
# that ends by its deadline with nothing heard makes it PING the connection, no answer comes within 1 s,
# the connection is closed (READY -> IDLE), and once the path heals the next call gets a new connection.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${BREAKWATER_SKIP_BUILD:-0}" != 1 ]; then
    scripts/bootstrap.sh
    swift build --product echo-server
    swift build --product echo-client
fi
bin="$(swift build --show-bin-path)"

server_log="$(mktemp)"
proxy_log="$(mktemp)"
"$bin/echo-server" --port 0 --announce-port >"$server_log" 2>&1 &
server=$!
proxy=""
trap 'kill $server $proxy 2>/dev/null || true; wait $server $proxy 2>/dev/null || true; rm -f "$server_log" "$proxy_log"' EXIT
for _ in $(seq 1 100); do grep -q '^PORT ' "$server_log" && break; sleep 0.1; done
port="$(sed -n 's/^PORT //p' "$server_log")"
[ -n "$port" ] || { echo "zombie-demo: echo-server did not start"; cat "$server_log"; exit 1; }

python3 -u scripts/fault-proxy.py --upstream "$port" --drop-after 2 --drop-for 3 >"$proxy_log" 2>&1 &
proxy=$!
for _ in $(seq 1 100); do grep -q '^PORT ' "$proxy_log" && break; sleep 0.1; done
proxy_port="$(sed -n 's/^PORT //p' "$proxy_log")"
[ -n "$proxy_port" ] || { echo "zombie-demo: fault-proxy did not start"; cat "$proxy_log"; exit 1; }

echo "\$ echo-client --port $proxy_port --count 24 --interval-ms 250 --timeout-ms 500 --verbose"
echo "  (through a proxy that drops every byte from 2 s to 5 s)"
tail -f "$proxy_log" 2>/dev/null | grep --line-buffered '^fault-proxy' &
tailer=$!
"$bin/echo-client" --port "$proxy_port" --count 24 --interval-ms 250 --timeout-ms 500 --verbose 2>&1 || true
kill $tailer 2>/dev/null || true
