#!/usr/bin/env bash
# Fleet keys through the agent, as root on veth: attach and rotate with a
# secret file publish the epoch's key set (generation = whole intervals
# since the Unix epoch, the previous epoch as previous key); a second
# rotate in the same epoch changes nothing; a random rotate follows on.
# Usage: fleet_keys.sh DTLS_COOKIE
set -uo pipefail
DC=$1
# shellcheck source=cli_lib.sh
source "$(dirname "$0")/cli_lib.sh"
cli_setup

A=dca$ID
new_veth "$A"
head -c 32 /dev/urandom >"$T/secret"

# generation_ok INTERVAL T0 T1: the status in $T/out shows the key set of
# an epoch between the times T0 and T1 (a boundary may pass meanwhile),
# with the epoch before as previous key.
generation_ok() {
  local interval=$1 before=$2 after=$3 got prev
  got=$(json 'd["keys"]["current"]["generation"]')
  prev=$(json 'd["keys"]["previous"]["generation"]')
  if ((got >= before / interval && got <= after / interval &&
    prev == got - 1)); then
    pass "generation $got is the epoch of $interval s intervals"
  else
    fail "generations $got/$prev;" \
      "epochs $((before / interval))..$((after / interval))"
  fi
}

before=$(date +%s)
expect_ok dc attach --iface "$A" --port 4433 --secret-file "$T/secret" \
  --key-interval 3600
grep -q "fleet keys" "$T/err" || fail "attach did not mention fleet keys"
expect_ok dc status --json
generation_ok 3600 "$before" "$(date +%s)"
gen=$(json 'd["keys"]["current"]["generation"]')
check_eq "created at the epoch's start" \
  "$(json 'd["keys"]["current"]["created_unix_ns"]')" "$((gen * 3600 * 1000000000))"

expect_ok dc rotate --secret-file "$T/secret" --key-interval 3600
if grep -q "already published" "$T/err"; then
  pass "same epoch: nothing to publish"
else
  # Only right if the hour turned meanwhile.
  expect_ok dc status --json
  check_eq "rotate crossed an epoch" \
    "$(json 'd["keys"]["current"]["generation"]')" $((gen + 1))
fi

expect_ok dc status --json
gen=$(json 'd["keys"]["current"]["generation"]')
expect_ok dc rotate
expect_ok dc status --json
check_eq "random rotate after fleet keys" "$(gens)" "($((gen + 1)), $gen)"

before=$(date +%s)
expect_ok dc rotate --secret-file "$T/secret" --key-interval 60
grep -q "(fleet keys)" "$T/err" || fail "rotate did not say fleet keys"
expect_ok dc status --json
generation_ok 60 "$before" "$(date +%s)"
expect_ok dc check --count 100

expect_ok dc detach --iface "$A"
nothing_left "$A"

cli_finish
