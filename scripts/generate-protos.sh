#!/usr/bin/env bash
# Regenerates the committed Swift code for Protos/*.proto.
# Needs protoc (Debian: protobuf-compiler). Builds swift-protobuf's protoc-gen-swift plugin
# (a few minutes on a fresh machine), which is why the generated code is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { apt-get update -qq && apt-get install -y -qq protobuf-compiler; }
swift build -c release --product protoc-gen-swift --scratch-path .build-protoc
plugin="$(swift build -c release --product protoc-gen-swift --scratch-path .build-protoc --show-bin-path)/protoc-gen-swift"
protoc --plugin=protoc-gen-swift="$plugin" \
  --swift_out=Examples/echo/EchoService/Generated \
  --swift_opt=Visibility=Public \
  -I Protos Protos/echo.proto
echo "generated Examples/echo/EchoService/Generated/echo.pb.swift"
