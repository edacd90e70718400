#!/usr/bin/env bash
# Runs every test: unit, loopback end-to-end, and interop with grpcio in both directions.
#
#   scripts/test.sh                     what CI runs
#   scripts/test.sh --sanitize thread   the same tests under ThreadSanitizer; `--sanitize address` under
#                                       AddressSanitizer. Builds in .build-tsan / .build-asan, and any
#                                       sanitizer report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/test.sh [--sanitize thread|address]" >&2; exit 2; }
sanitizer=""
case "$#:${1:-}" in
  0:) ;;
  1:--sanitize=*) sanitizer="${1#--sanitize=}" ;;
  2:--sanitize) sanitizer="$2" ;;
  *) usage ;;
esac
case "$sanitizer" in
  "") ;;
  thread) scratch=.build-tsan; scale=10 ;;
  address) scratch=.build-asan; scale=3 ;;
  *) usage ;;
esac

scripts/bootstrap.sh

if [ -n "$sanitizer" ]; then
  # The sanitizers slow the code several times (TSan about 3x overall, some tests 10x): the suites'
  # time limits stretch by this factor (Tests/BreakwaterTestSupport/TestTime.swift).
  export BREAKWATER_TEST_TIME_SCALE="${BREAKWATER_TEST_TIME_SCALE:-$scale}"
  # LeakSanitizer: XCTest and Foundation.Process keep a few allocations to the end; nothing else may leak.
  export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan-suppressions.txt${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
  swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch"
  swift test --skip-build --no-parallel --sanitize="$sanitizer" --scratch-path "$scratch"
  exit 0
fi

swift build --build-tests
# Serial: timing safety bounds (deadlines, connect timeouts) stay meaningful when CPU-heavy property
# tests do not starve the 2-thread cooperative pool at the same moment; the whole run takes about a minute.
swift test --skip-build --no-parallel
# The build plugin end to end (Examples/kv); BREAKWATER_SKIP_PLUGIN_CHECK=1 leaves it out of a local run.
if [ "${BREAKWATER_SKIP_PLUGIN_CHECK:-0}" != "1" ]; then
  scripts/plugin-check.sh
fi
