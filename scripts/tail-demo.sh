#!/usr/bin/env bash
# The tail-latency demo: hedging cutting a latency tail, and the adaptive concurrency limit rejecting the
# calls a saturated backend cannot serve in time. Both run echo-bench against its own HTTP/2 echo server on
# 127.0.0.1 with few calls (about 10 s in all), so the figures are indicative, not a benchmark (for those:
# `echo-bench hedge --rounds 3` and `echo-bench limit --rounds 3` on a release build; see README).
#
# Usage: scripts/tail-demo.sh [-c debug|release]   (default debug, the build the other demos use)
#   BREAKWATER_SKIP_BUILD=1 uses the echo-bench already built.
set -euo pipefail
cd "$(dirname "$0")/.."
config=debug
if [ "${1:-}" = "-c" ]; then config="$2"; fi
if [ "${BREAKWATER_SKIP_BUILD:-0}" != 1 ]; then
  out="$(swift build -c "$config" --product echo-bench 2>&1)" || { echo "$out"; exit 1; }
fi
bin="$(swift build -c "$config" --show-bin-path)"

# echo-bench prints key=value lines, then a summary; the demo shows the summary only.
summary() { sed -n '/^$/,$p' | sed '/^$/d'; }

echo "--- hedging: 5% of server calls take 200 ms; 400 calls from 4 callers, plain client vs hedged"
echo "    (the standard chain with hedgingPolicy {maxAttempts: 2, hedgingDelay: 10 ms} and a retry throttle)"
"$bin/echo-bench" hedge --calls 400 --concurrency 4 | summary
echo "    The hedged p99 is the hedging delay plus a fast call, instead of the slow calls' 200 ms, for about"
echo "    6% more server calls; the p99.9 is the rare call whose two attempts were both slow."

echo
echo "--- adaptive concurrency limit: the server's latency is 1 ms per call in flight, 64 callers with a"
echo "    40 ms deadline each, 2 s per client: plain, a fixed bulkhead of 16, the adaptive limit (GradientLimit)"
"$bin/echo-bench" limit --duration-ms 2000 | summary
echo "    Plain: every call queues behind 63 others and misses its deadline (goodput near 0)."
echo "    With a limit the excess is rejected at once, RESOURCE_EXHAUSTED in microseconds (never sent),"
echo "    and what is sent is answered in time: the adaptive limit finds the level by itself."
