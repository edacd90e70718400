#!/usr/bin/env bash
# Makes a throwaway PKI for trying TLS locally: a CA, a server certificate for localhost, 127.0.0.1
# and ::1, and a client certificate for mutual TLS. Never use these keys for anything real.
# Usage: scripts/make-dev-certs.sh [DIR]   (default: .dev-certs; git ignores it)
set -euo pipefail
dir="${1:-.dev-certs}"
mkdir -p "$dir"
cd "$dir"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -subj "/CN=Breakwater Dev CA" -days 30 \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
leaf() { # name subject san usage
  openssl req -new "${ec[@]}" -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\nsubjectAltName=%s\n' "$4" "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -days 30 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
leaf server "/CN=localhost" "DNS:localhost,IP:127.0.0.1,IP:::1" serverAuth
leaf client "/O=Breakwater Dev/CN=dev-client" "DNS:dev-client" clientAuth
echo "made $dir/{ca.pem, server.pem, server.key, client.pem, client.key}"
