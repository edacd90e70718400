#!/usr/bin/env bash
# Runs every test: unit, loopback end-to-end, and interop with grpcio in both directions.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
swift build --build-tests
swift test --skip-build
