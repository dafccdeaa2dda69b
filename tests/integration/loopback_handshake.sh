#!/usr/bin/env bash
# Real, unmodified DTLS clients (openssl s_client, gnutls-cli) against the
# example servers on loopback, IPv4 and IPv6: the server answers the
# cookie-less ClientHello itself, verifies the cookie in the second one,
# finishes the handshake and echoes a line back.
#
# Usage: loopback_handshake.sh [--client NAME]... [--host ADDR]... SERVER...
#   NAME is s_client or gnutls-cli, ADDR 127.0.0.1 or ::1 (default: all).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

clients=()
hosts=()
servers=()
while (($#)); do
  case $1 in
    --client) clients+=("$2"); shift 2 ;;
    --host) hosts+=("$2"); shift 2 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) servers+=("$1"); shift ;;
  esac
done
if ((${#servers[@]} == 0)); then
  echo "usage: $0 [--client NAME]... [--host ADDR]... SERVER..." >&2
  exit 2
fi
((${#clients[@]})) || clients=(s_client gnutls-cli)
((${#hosts[@]})) || hosts=(127.0.0.1 ::1)

dc_require_tools openssl gnutls-cli timeout mkfifo
dc_setup
dc_make_cert "$DC_WORK"
dc_make_secret "$DC_WORK/secret"

# The library's cookie: key generation and tag (abi.h, DC_COOKIE_LEN).
cookie_len=12
failures=0
passes=0

run_case() {
  local server=$1 client=$2 host=$3
  local name out
  name="$(basename "$server") + $client on $host"
  out="$DC_WORK/$(basename "$server").$client.${host//:/_}"

  dc_start_server "$out.server.log" "$server" \
    --listen "$(dc_host_port "$host" 0)" --cert "$DC_WORK/cert.pem" \
    --key "$DC_WORK/key.pem" --secret-file "$DC_WORK/secret" \
    --max-clients 1 --idle-timeout 5 || return

  local line="echo-$RANDOM-$client-$host" client_rc=0 server_rc=0
  dc_client_echo "$client" "$host" "$DC_SERVER_PORT" "$line" "$out.client" ||
    client_rc=$?
  dc_wait_server || server_rc=$?

  local ok=1
  if ((client_rc)); then
    echo "$name: client exited $client_rc" >&2
    ok=0
  fi
  if ((server_rc)); then
    echo "$name: server exited $server_rc" >&2
    ok=0
  fi
  if ! dc_saw_hello_verify_request "$client" "$out.client" "$cookie_len"; then
    echo "$name: client saw no HelloVerifyRequest with a" \
      "$cookie_len-byte cookie" >&2
    ok=0
  fi
  if ! grep -q "handshake ok" "$out.server.log" ||
    ! grep -q "session ended: closed by client, 1 records echoed" \
      "$out.server.log"; then
    echo "$name: server log lacks the handshake or the echo" >&2
    ok=0
  fi
  if ((ok)); then
    echo "ok: $name ($(grep -o 'handshake ok: .*' "$out.server.log"))"
    return 0
  fi
  for f in "$out".server.log "$out".client.stderr "$out".client.stdout; do
    echo "--- $f (last 30 lines)" >&2
    tail -n 30 "$f" >&2
  done
  return 1
}

for server in "${servers[@]}"; do
  for client in "${clients[@]}"; do
    for host in "${hosts[@]}"; do
      if run_case "$server" "$client" "$host"; then
        passes=$((passes + 1))
      else
        echo "FAIL: $(basename "$server") + $client on $host" >&2
        failures=$((failures + 1))
      fi
    done
  done
done
echo "$passes passed, $failures failed"
((failures == 0))
