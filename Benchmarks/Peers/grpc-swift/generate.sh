#!/usr/bin/env bash
# Regenerates Sources/EchoPeer/echo.pb.swift (protoc-gen-swift, swift-protobuf 1.39.0) and
# Sources/EchoPeer/echo.grpc.swift (protoc-gen-grpc-swift-2, grpc-swift-protobuf 2.4.1) from Protos/echo.proto.
# The generated files are committed; the package never runs a build plugin. Building the two protoc plugins
# took 3.7 minutes (debug) the first time on the 2-core VM; they go to .build-plugin/ (ignored by git, separate from .build/).
# Needs protoc (Debian: apt-get install -y protobuf-compiler).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
protos=$(cd "$here/../../../Protos" && pwd)
scratch="$here/.build-plugin"
out="$here/Sources/EchoPeer"

# One product per invocation: `swift build --product A --product B` builds only B.
for plugin in protoc-gen-swift protoc-gen-grpc-swift-2; do
  swift build --package-path "$here" --scratch-path "$scratch" --product "$plugin"
done
bin=$(swift build --package-path "$here" --scratch-path "$scratch" --show-bin-path)

protoc -I "$protos" \
  --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
  --swift_out=Visibility=Public:"$out" \
  --plugin=protoc-gen-grpc-swift-2="$bin/protoc-gen-grpc-swift-2" \
  --grpc-swift-2_out=Visibility=Public,Client=true,Server=true:"$out" \
  "$protos/echo.proto"
echo "generated: $out/echo.pb.swift $out/echo.grpc.swift"
