#!/usr/bin/env bash
# Regenerates the generated Swift code committed in this repository: messages (protoc-gen-swift) and
# services (protoc-gen-breakwater) for the echo example, gRPC's interop, health and reflection protos,
# and the generator's golden files and their descriptor sets.
#
# Needs protoc (Debian: protobuf-compiler) and gRPC's standard protos (Debian: grpc-proto, under
# /usr/share/grpc-proto); installs both through apt when missing. Builds protoc-gen-swift from
# swift-protobuf (about two minutes on a fresh machine) and protoc-gen-breakwater from this package.
#
#   scripts/generate-protos.sh           regenerate everything
#   scripts/generate-protos.sh --check   regenerate into a scratch folder and fail if anything differs
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
[ "${1:-}" = "--check" ] && check=1

if ! command -v protoc >/dev/null || [ ! -d /usr/share/grpc-proto ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq protobuf-compiler grpc-proto >/dev/null
fi
GRPC_PROTO=/usr/share/grpc-proto

nice -n 10 swift build --product protoc-gen-swift --scratch-path .build-protoc >/dev/null
swift_plugin="$(swift build --product protoc-gen-swift --scratch-path .build-protoc --show-bin-path)/protoc-gen-swift"
nice -n 10 swift build --product protoc-gen-breakwater >/dev/null
bw_plugin="$(swift build --show-bin-path)/protoc-gen-breakwater"

root="$PWD"
out="$root"

if [ $check -eq 1 ]; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi

# messages DIR OPTIONS INCLUDE FILE... : the messages of FILEs into DIR (protoc-gen-swift).
messages() {
  local dir="$out/$1" opts="$2" include="$3"
  shift 3
  mkdir -p "$dir"
  protoc --plugin=protoc-gen-swift="$swift_plugin" --swift_out="$dir" --swift_opt="$opts" -I "$include" "$@"
}
# services DIR OPTIONS INCLUDE FILE... : the services of FILEs into DIR (protoc-gen-breakwater).
services() {
  local dir="$out/$1" opts="$2" include="$3"
  shift 3
  mkdir -p "$dir"
  protoc --plugin=protoc-gen-breakwater="$bw_plugin" --breakwater_out="$dir" --breakwater_opt="$opts" \
    -I "$include" "$@"
}

# The echo example.
messages Examples/echo/EchoService/Generated Visibility=Public Protos Protos/echo.proto
services Examples/echo/EchoService/Generated Visibility=Public Protos Protos/echo.proto

# gRPC's interop suite (grpc.testing), from grpc-proto; the protos themselves are not committed.
interop=Interop/BreakwaterInterop/Generated
messages $interop Visibility=Package,FileNaming=DropPath $GRPC_PROTO \
  grpc/testing/test.proto grpc/testing/messages.proto grpc/testing/empty.proto
services $interop Visibility=Package,FileNaming=DropPath $GRPC_PROTO grpc/testing/test.proto

# gRPC's health service (grpc.health.v1).
health=Sources/BreakwaterHealth/Generated
messages $health Visibility=Public,FileNaming=DropPath $GRPC_PROTO grpc/health/v1/health.proto
services $health Visibility=Public,FileNaming=DropPath $GRPC_PROTO grpc/health/v1/health.proto

# gRPC's reflection service (grpc.reflection.v1, and v1alpha for older tools).
reflection=Sources/BreakwaterReflection/Generated
for version in v1 v1alpha; do
  messages $reflection Visibility=Package,FileNaming=PathToUnderscores $GRPC_PROTO grpc/reflection/$version/reflection.proto
  services $reflection Visibility=Package,FileNaming=PathToUnderscores $GRPC_PROTO grpc/reflection/$version/reflection.proto
done

# The generator's golden cases: for each, the descriptor set the test feeds the generator, the plugin's
# output to compare with, and the messages the compile test builds it with.
fixtures=Tests/BreakwaterCodeGenTests/Fixtures
while read -r name proto opts; do
  case "$name" in ''|'#'*) continue ;; esac
  opts="${opts:-}"
  opts="${opts//ProtoPathModuleMappings=/ProtoPathModuleMappings=$fixtures/}"
  swift_opts=""
  for opt in ${opts//,/ }; do
    case "$opt" in Visibility=*|FileNaming=*|ProtoPathModuleMappings=*) swift_opts="${swift_opts:+$swift_opts,}$opt" ;; esac
  done
  mkdir -p "$out/$fixtures/descriptors" "$out/$fixtures/golden/$name"
  rm -f "$out/$fixtures/golden/$name"/*.swift
  protoc --include_imports --include_source_info -I "$fixtures/protos" \
    --descriptor_set_out="$out/$fixtures/descriptors/$name.pb" "$fixtures/protos/$proto"
  protoc --plugin=protoc-gen-swift="$swift_plugin" --plugin=protoc-gen-breakwater="$bw_plugin" \
    --swift_out="$out/$fixtures/golden/$name" ${swift_opts:+--swift_opt="$swift_opts"} \
    --breakwater_out="$out/$fixtures/golden/$name" ${opts:+--breakwater_opt="$opts"} \
    -I "$fixtures/protos" "$fixtures/protos/$proto"
done < "$fixtures/cases.txt"

if [ $check -eq 1 ]; then
  status=0
  for dir in Examples/echo/EchoService/Generated Interop/BreakwaterInterop/Generated Sources/BreakwaterHealth/Generated \
    Sources/BreakwaterReflection/Generated Tests/BreakwaterCodeGenTests/Fixtures/golden \
    Tests/BreakwaterCodeGenTests/Fixtures/descriptors; do
    diff -r "$root/$dir" "$out/$dir" || status=1
  done
  [ $status -eq 0 ] && echo "generated code is up to date"
  exit $status
fi
echo "regenerated the committed code"
