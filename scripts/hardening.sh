#!/usr/bin/env bash
# Builds echo-server and echo-client (release by default) and runs the hardening suite against them:
# attack peers in Tests/Hardening replay known denial-of-service patterns and check that the process
# under attack survives, keeps serving others, and stays within its memory budget (README there).
# Usage: scripts/hardening.sh [--release | --debug] [run.py options, e.g. --only hpack-bomb --verbose]
# Release is the default because the "others are served within 10x their baseline latency" check judges
# the build's speed: a debug build under a CPU-heavy attack (gzip inflation, 4 MB messages, a slow reader)
# answers the probe in 1-2 s and fails that check while it survives. --debug runs the attacks against a
# debug build anyway (survival and memory are judged the same way).
# Exit status: that of the suite (1 when any case failed).
set -euo pipefail
cd "$(dirname "$0")/.."

config=release
case "${1:-}" in
  --release) shift ;;
  --debug) config=debug; shift ;;
esac

# The peers need hpack (raw header blocks); h2 comes with it and is there for writing new peers.
if ! python3 -c 'import h2, hpack' >/dev/null 2>&1; then
  echo "hardening: installing h2 and hpack (pip)"
  # Debian's own python3 refuses pip installs outside a venv (PEP 668) unless told otherwise.
  python3 -m pip install -q --disable-pip-version-check h2 hpack 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages h2 hpack
fi

# One product per command: `swift build --product A --product B` builds only B.
for product in echo-server echo-client; do
  nice -n 10 swift build -c "$config" --product "$product"
done
bin="$(swift build -c "$config" --show-bin-path)"
exec python3 Tests/Hardening/run.py --server "$bin/echo-server" --client "$bin/echo-client" "$@"
