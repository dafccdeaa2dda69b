#!/usr/bin/env bash
# The example servers refuse bad set-ups with a non-zero exit and a message
# that names the cause: port in use, unreadable certificate or key, missing
# or short secret file, no key source, bad listen address.
#
# Usage: server_errors.sh SERVER...
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

(($#)) || { echo "usage: $0 SERVER..." >&2; exit 2; }
dc_require_tools openssl timeout
dc_setup
w=$DC_WORK
dc_make_cert "$w"
dc_make_secret "$w/secret"
dc_make_secret "$w/short" 8
echo "not a pem file" >"$w/garbage.pem"

passes=0
failures=0

# expect_error NAME PATTERN SERVER ARGS...: the server exits non-zero within
# 5 s and its stderr matches PATTERN.
expect_error() {
  local name=$1 pattern=$2 rc=0
  shift 2
  timeout 5 "$@" 2>"$w/err" >/dev/null || rc=$?
  if ((rc != 0 && rc != 124)) && grep -qE -- "$pattern" "$w/err"; then
    passes=$((passes + 1))
    echo "ok: $name: $(head -n1 "$w/err")"
  else
    failures=$((failures + 1))
    echo "FAIL: $name: exit $rc, stderr: $(cat "$w/err")" >&2
  fi
}

for server in "$@"; do
  base=$(basename "$server")
  good=(--cert "$w/cert.pem" --key "$w/key.pem" --secret-file "$w/secret")
  expect_error "$base missing certificate" \
    "cannot read certificate .*/nope.pem: No such file" \
    "$server" --cert "$w/nope.pem" --key "$w/key.pem" --secret-file "$w/secret"
  expect_error "$base garbage certificate" "loading certificate .*garbage.pem" \
    "$server" --cert "$w/garbage.pem" --key "$w/key.pem" \
    --secret-file "$w/secret"
  expect_error "$base garbage key" "garbage.pem" \
    "$server" --cert "$w/cert.pem" --key "$w/garbage.pem" \
    --secret-file "$w/secret"
  expect_error "$base missing secret" "cannot read secret file .*/nope" \
    "$server" --cert "$w/cert.pem" --key "$w/key.pem" --secret-file "$w/nope"
  expect_error "$base short secret" "secret file .*short holds 8 bytes" \
    "$server" --cert "$w/cert.pem" --key "$w/key.pem" --secret-file "$w/short"
  expect_error "$base no key source" "no cookie key source" \
    "$server" --cert "$w/cert.pem" --key "$w/key.pem"
  expect_error "$base bad address" "bad address '127.0.0.1'" \
    "$server" "${good[@]}" --listen 127.0.0.1
  expect_error "$base zero key interval" "key-interval" \
    "$server" "${good[@]}" --key-interval 0

  # A port held by either server, then by this one, is refused.
  for holder in "$@"; do
    dc_start_server "$w/holder.log" "$holder" "${good[@]}" \
      --listen 127.0.0.1:0
    expect_error "$base on a port $(basename "$holder") holds" \
      "cannot bind UDP 127.0.0.1:$DC_SERVER_PORT: Address already in use" \
      "$server" "${good[@]}" --listen "127.0.0.1:$DC_SERVER_PORT"
    kill "$DC_SERVER_PID"
    wait "$DC_SERVER_PID" 2>/dev/null || true
  done
done
echo "$passes passed, $failures failed"
((failures == 0))
