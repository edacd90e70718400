#!/usr/bin/env bash
# Builds Examples/kv, a package whose service code the BreakwaterProtoGenerator build plugin generates
# from its .proto on every build, then runs its demo and checks what it printed: the plugin end to end,
# as a newcomer would use it. Needs protoc on PATH (bootstrap.sh installs protobuf-compiler).
# Takes about two minutes on a fresh clone (it builds Breakwater and swift-protobuf again, for the example).
set -euo pipefail
cd "$(dirname "$0")/.."
# Examples/kv depends on Breakwater by path: declare the plugin (see the end of Package.swift).
export BREAKWATER_BUILD_PLUGIN=1
nice -n 10 swift build --package-path Examples/kv
output="$(timeout 120 swift run --skip-build --package-path Examples/kv kv-demo)"
echo "$output"
expected=$'get greeting: hello\nput many: 3\nwatched counter: 1 2 3\nget missing: NOT_FOUND'
if [ "$output" != "$expected" ]; then
  echo "plugin-check: kv-demo printed something else; expected:" >&2
  echo "$expected" >&2
  exit 1
fi
echo "plugin-check: the build plugin generated a working kv.KeyValue"
