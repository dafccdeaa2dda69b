#!/usr/bin/env bash
# The reply rate limit on the command line, as root on veth: bad values
# refused with the flag named, the settings shown by status (text and
# JSON), an instance shared only with equal settings, and a check that
# passes while the limit withholds most of its answers.
# Usage: reply_limit.sh DTLS_COOKIE
set -uo pipefail
DC=$1
# shellcheck source=cli_lib.sh
source "$(dirname "$0")/cli_lib.sh"
cli_setup

A=dca$ID
B=dcb$ID
new_veth "$A" 192.0.2.10/24
new_veth "$B" 198.51.100.20/24

# Values out of range: usage errors, the flag and the range named.
for sub in attach run; do
  expect_exit 2 "--reply-rate: 10000001 is out of range \(0-10000000; 0 turns the limit off\)" \
    dc "$sub" --iface "$A" --port 4433 --reply-rate 10000001
  expect_exit 2 "--reply-rate: '-1' is not a whole number" \
    dc "$sub" --iface "$A" --port 4433 --reply-rate=-1
  expect_exit 2 "--reply-burst: 0 is out of range \(1-10000000\)" \
    dc "$sub" --iface "$A" --port 4433 --reply-burst 0
  expect_exit 2 "--reply-prefix4: 33 is out of range \(1-32\)" \
    dc "$sub" --iface "$A" --port 4433 --reply-prefix4 33
  expect_exit 2 "--reply-prefix6: 0 is out of range \(1-128\)" \
    dc "$sub" --iface "$A" --port 4433 --reply-prefix6 0
  expect_exit 2 "--reply-prefix6: '/64' is not a whole number" \
    dc "$sub" --iface "$A" --port 4433 --reply-prefix6 /64
  expect_exit 2 "--reply-table-size: 4194305 is out of range \(1-4194304\)" \
    dc "$sub" --iface "$A" --port 4433 --reply-table-size 4194305
  expect_exit 2 "--reply-table-size: 12345678901 is out of range" \
    dc "$sub" --iface "$A" --port 4433 --reply-table-size 12345678901
done
nothing_left "$A" "$B"

# The defaults, shown by status.
expect_ok dc attach --iface "$A" --port 4433
expect_ok dc status
grep -qE "^reply limit +1000/s per /32 \(IPv4\) and /64 \(IPv6\) destination, burst 2000, 65536 buckets$" \
  "$T/out" || fail "status text: default reply limit"
expect_ok dc status --json
check_eq "JSON reply_limit" \
  "$(json 'sorted(d["reply_limit"].items())')" \
  "[('burst', 2000), ('enabled', True), ('prefix4', 32), ('prefix6', 64), ('rate_per_second', 1000), ('table_size', 65536)]"

# A second interface shares the instance only with the same limit; the
# error names every setting that differs.
expect_exit 1 "runs with other settings \(--reply-rate, --reply-prefix6\)" \
  dc attach --iface "$B" --port 4433 --reply-rate 10 --reply-prefix6 48
expect_exit 1 "runs with other settings \(--reply-burst, --reply-table-size\)" \
  dc attach --iface "$B" --port 4433 --reply-burst 5 --reply-table-size 100
expect_exit 1 "runs with other settings \(--reply-rate\)" \
  dc attach --iface "$B" --port 4433 --reply-rate 0
expect_ok dc attach --iface "$B" --port 4433 --reply-rate 1000
expect_ok dc detach --iface "$B"
expect_ok dc detach --iface "$A"
nothing_left "$A" "$B"

# Off: status says so, and an instance that is off is shared whatever the
# other settings say, since none of them acts.
expect_ok dc attach --iface "$A" --port 4433 --reply-rate 0
expect_ok dc status
grep -qE "^reply limit +off$" "$T/out" || fail "status text: limit off"
expect_ok dc status --json
check_eq "JSON reply_limit off" "$(json 'd["reply_limit"]')" \
  "{'enabled': False}"
expect_ok dc attach --iface "$B" --port 4433 --reply-rate 0 --reply-burst 9
expect_ok dc detach --iface "$B"
expect_ok dc detach --iface "$A"
nothing_left "$A" "$B"

# A tight limit: one reply per second and one bucket per half of each
# address family. Most of the check's answers are withheld, which the
# check must recognise from the live buckets, and the counters show it.
expect_ok dc attach --iface "$A" --port 4433 --reply-rate 1 --reply-burst 1 \
  --reply-prefix4 1 --reply-prefix6 1 --reply-table-size 16
expect_ok dc status
grep -qE "^reply limit +1/s per /1 \(IPv4\) and /1 \(IPv6\) destination, burst 1, 16 buckets$" \
  "$T/out" || fail "status text: tight reply limit"
expect_ok dc check --count 300
grep -qE "^check passed: 300 frames, 0 mismatches" "$T/out" ||
  fail "check: $(tail -1 "$T/out")"
limited=$(sed -n 's/.* rate_limited=\([0-9]*\).*/\1/p' "$T/out")
if [[ -n $limited ]] && ((limited >= 60)); then
  pass "check: $limited answers withheld by the limit"
else
  fail "check: too few answers withheld ('$limited'): $(tail -1 "$T/out")"
fi
expect_ok dc stats --json
check_eq "stats rate_limited" "$(json 'd["counters"]["rate_limited"]')" \
  "$limited"
check_eq "stats xdp_drop covers them" \
  "$(json 'd["counters"]["xdp_drop"] >= d["counters"]["rate_limited"]')" True
expect_ok dc detach --iface "$A"
nothing_left "$A" "$B"

cli_finish
