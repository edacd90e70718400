#!/usr/bin/env bash
# Runs every test: unit, loopback end-to-end, and interop with grpcio in both directions.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
swift build --build-tests
# Serial: timing safety bounds (deadlines, connect timeouts) stay meaningful when CPU-heavy property
# tests do not starve the 2-thread cooperative pool at the same moment; the whole run takes ~30 s.
swift test --skip-build --no-parallel
# The build plugin end to end (Examples/kv); BREAKWATER_SKIP_PLUGIN_CHECK=1 leaves it out of a local run.
if [ "${BREAKWATER_SKIP_PLUGIN_CHECK:-0}" != "1" ]; then
  scripts/plugin-check.sh
fi
