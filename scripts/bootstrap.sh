#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks for building and testing Breakwater:
# the C libraries (nghttp2, OpenSSL, zlib) through apt, and the Python peers (grpcio for interop,
# h2 and hpack for the hardening suite) through pip.
# Each step runs only when its check fails, so a second run is quick and changes nothing.
# With --plot it also installs matplotlib (pip), which only `breaker-demo.sh --plot` needs.
set -euo pipefail

plot=0
[ "${1:-}" = "--plot" ] && plot=1

need_apt=()
pkg-config --version >/dev/null 2>&1 || need_apt+=(pkg-config)
pkg-config --exists libnghttp2 2>/dev/null || need_apt+=(libnghttp2-dev)
pkg-config --exists openssl 2>/dev/null || need_apt+=(libssl-dev)
pkg-config --exists zlib 2>/dev/null || need_apt+=(zlib1g-dev)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)          # the TLS tests make their certificates
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)  # the grpcio interop peers
[ -f /usr/share/grpc-proto/grpc/testing/test.proto ] || need_apt+=(grpc-proto)  # gRPC's interop protos, for the grpcio peers
command -v protoc >/dev/null 2>&1 || need_apt+=(protobuf-compiler)  # the build plugin's check (Examples/kv)
[ -x /usr/sbin/nginx ] || need_apt+=(nginx)        # the proxy tests: replicas behind nginx's grpc_pass
[ -x /usr/sbin/haproxy ] || need_apt+=(haproxy)    # and behind haproxy in HTTP/2 mode
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bootstrap: installing ${need_apt[*]} (apt)"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# h2 and hpack: the raw HTTP/2 attack peers of the hardening suite (Tests/Hardening);
# grpcio-health-checking and grpcio-reflection: the peers of the health and reflection services.
pip_packages=(grpcio grpcio-tools h2 hpack grpcio-health-checking grpcio-reflection)
if ! python3 -c 'import grpc, grpc_tools, h2, hpack, grpc_health.v1.health, grpc_reflection.v1alpha.reflection' >/dev/null 2>&1; then
  echo "bootstrap: installing ${pip_packages[*]} (pip)"
  # Debian's own python3 refuses pip installs outside a venv (PEP 668) unless told otherwise.
  python3 -m pip install -q --disable-pip-version-check "${pip_packages[@]}" 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages "${pip_packages[@]}"
fi

if [ "$plot" = 1 ] && ! python3 -c 'import matplotlib' >/dev/null 2>&1; then
  echo "bootstrap: installing matplotlib (pip), for breaker-demo.sh --plot"
  python3 -m pip install -q --disable-pip-version-check matplotlib 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages matplotlib
fi

command -v swift >/dev/null 2>&1 || { echo "bootstrap: Swift 6 toolchain not found on PATH" >&2; exit 1; }
