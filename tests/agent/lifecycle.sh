#!/usr/bin/env bash
# The agent's life cycle on veth, as root: attach, status (text and JSON),
# check, stats, rotate, a second interface sharing the instance in skb mode,
# detach of one and then of the last interface (nothing left behind).
# Usage: lifecycle.sh DTLS_COOKIE
set -uo pipefail
DC=$1
# shellcheck source=cli_lib.sh
source "$(dirname "$0")/cli_lib.sh"
cli_setup

A=dca$ID
# A dot in the name: bpffs refuses dots in pin names, the agent must cope.
B=dcb$ID.7
new_veth "$A" 192.0.2.10/24 2001:db8::10/64
new_veth "$B" 198.51.100.20/24

# Help in sections with examples, for the tool and every subcommand.
expect_ok "$DC" --version
grep -qE "^dtls-cookie [0-9]+\.[0-9]+" "$T/out" ||
  fail "--version: $(cat "$T/out")"
for sub in "" attach detach rotate status stats check run; do
  # shellcheck disable=SC2086 # no subcommand: no word
  expect_ok "$DC" $sub --help
  grep -q "^Examples:" "$T/out" || fail "$sub --help has no examples"
done
grep -q "^Policy" < <("$DC" attach --help) ||
  fail "attach --help: no policy section"
grep -q "counters count them too" < <("$DC" check --help) ||
  fail "check --help does not say the live counters count its frames"

# attach: native mode, the pins, the program on the interface; info lines
# only, without -v.
expect_ok dc attach --iface "$A" --port 4433,5684 \
  --dtls13 answer --server-version 1.2 --local-addr 203.0.113.9
grep -q "^info: attached to $A (ifindex [0-9]*, native mode" "$T/err" ||
  fail "no info line for the attach"
grep -q "^debug:" "$T/err" && fail "debug lines without -v"
check_eq "pins" "$(ls "$PIN" | tr '\n' ' ')" \
  "config counters keys link-$A prog "
prog=$(xdp_prog "$A")
[[ -n $prog ]] || fail "no XDP program on $A after attach"
ip -d link show dev "$A" | grep -q "xdp " || fail "$A: not native (ip -d link)"

# status, text.
expect_ok dc status
cp "$T/out" "$T/status.txt"
grep -qE "^program +dc_responder, id $prog$" "$T/status.txt" ||
  fail "status text lacks the program id $prog"
grep -qE "^interfaces +$A \(ifindex [0-9]+, native mode" "$T/status.txt" ||
  fail "status text lacks $A in native mode"
grep -qE "^ports +4433, 5684$" "$T/status.txt" || fail "status text: ports"
grep -qE "dtls13 answer" "$T/status.txt" || fail "status text: dtls13 policy"
grep -qE "^server version +DTLS 1.2$" "$T/status.txt" ||
  fail "status text: server version"
grep -qE "^keys +current generation 1, age" "$T/status.txt" ||
  fail "status text: key generation 1"

# status, JSON, read by another parser.
expect_ok dc status --json
check_eq "json program_id" "$(json 'd["program_id"]')" "$prog"
check_eq "json interfaces" \
  "$(json '[(i["name"], i["mode"]) for i in d["interfaces"]]')" \
  "[('$A', 'native')]"
check_eq "json ifindex" "$(json 'd["interfaces"][0]["ifindex"]')" \
  "$(cat "/sys/class/net/$A/ifindex")"
check_eq "json ports" "$(json 'd["ports"]')" "[4433, 5684]"
check_eq "json policies" "$(json 'sorted(d["policies"].items())')" \
  "[('dtls13', 'answer'), ('established', 'pass'), ('fragmented', 'pass'),\
 ('malformed', 'drop'), ('no-keys', 'pass')]"
check_eq "json server_version" "$(json 'd["server_version"]')" "1.2"
# --local-addr first, then the interface's own addresses.
check_eq "json local_addresses" "$(json 'd["local_addresses"][:2]')" \
  "['203.0.113.9', '192.0.2.10']"
check_eq "json has 2001:db8::10" \
  "$(json '"2001:db8::10" in d["local_addresses"]')" "True"
check_eq "json key generations" "$(gens)" "(1, None)"
check_eq "json key age plausible" \
  "$(json '0 <= d["keys"]["current"]["age_seconds"] < 60')" True

# stats: every counter, zero so far (the peer is down, nothing arrives).
expect_ok dc stats --json
check_eq "stats counters" "$(json 'len(d["counters"])')" 17
check_eq "stats all zero" "$(json 'sum(d["counters"].values())')" 0
expect_ok dc stats
grep -qE "^answered_no_cookie +0$" "$T/out" || fail "stats table lacks a row"

# check against the live program; its frames show in the live counters,
# one verdict each, and in the rates of a concurrent stats --watch.
"$DC" stats --pin-dir "$PIN" --json --watch 1 --count 3 >"$T/watch" 2>&1 &
watch_pid=$!
sleep 0.3
expect_ok dc check --count 300
grep -q "0 mismatches" "$T/out" || fail "check: $(cat "$T/out")"
wait "$watch_pid" || fail "stats --watch exited $?"
check_eq "watch samples" "$(wc -l <"$T/watch")" 3
expect_ok dc stats --json
verdicts=$(json 'sum(d["counters"][k]
  for k in ("xdp_pass", "xdp_drop", "xdp_tx", "xdp_aborted"))')
check_eq "verdicts counted for 300 check frames" "$verdicts" 300
check_eq "rates x intervals over the watch" "$(python3 -c '
import json, sys
s = [json.loads(l) for l in open(sys.argv[1])]
print([x["sample"] for x in s],
      round(sum(x["rates_per_second"]["xdp_pass"] * x["interval_seconds"]
                + x["rates_per_second"]["xdp_drop"] * x["interval_seconds"]
                + x["rates_per_second"]["xdp_tx"] * x["interval_seconds"]
                for x in s)),
      s[-1]["counters"]["xdp_pass"] + s[-1]["counters"]["xdp_drop"]
      + s[-1]["counters"]["xdp_tx"])' "$T/watch")" "[1, 2, 3] 300 300"

# Without --count, --watch runs until SIGINT, then exits normally.
# (the binary itself in the background, not the dc function: a background
# subshell ignores SIGINT)
"$DC" stats --pin-dir "$PIN" --watch 0.2 >"$T/watch" 2>&1 &
watch_pid=$!
sleep 1
kill -INT "$watch_pid"
for _ in $(seq 50); do kill -0 "$watch_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$watch_pid" 2>/dev/null; then
  fail "stats --watch still runs 5 s after SIGINT"
  kill -KILL "$watch_pid"
fi
rc=0
wait "$watch_pid" || rc=$?
check_eq "stats --watch after SIGINT: exit" "$rc" 0
samples=$(grep -c "^sample " "$T/watch")
((samples >= 2 && samples <= 6)) || fail "$samples samples in 1 s at 0.2 s"

# rotate twice: the generation goes up by one, the old current becomes
# the previous key with its creation time.
expect_ok dc status --json
created1=$(json 'd["keys"]["current"]["created_unix_ns"]')
expect_ok dc rotate
grep -q "generation 2 current, 1 previous" "$T/err" ||
  fail "rotate's info line: $(cat "$T/err")"
expect_ok dc status --json
check_eq "after rotate: generations" "$(gens)" "(2, 1)"
check_eq "previous keeps its creation time" \
  "$(json 'd["keys"]["previous"]["created_unix_ns"]')" "$created1"
expect_ok dc rotate
expect_ok dc status --json
check_eq "second rotate" "$(gens)" "(3, 2)"
expect_ok dc check --count 100

# A second interface with the same settings shares the instance (one
# program, one key set); the new interface's addresses were not in the
# program, which the agent says.
expect_ok dc attach --iface "$B" --port 5684,4433 --mode skb \
  --dtls13 answer --server-version 1.2 --local-addr 203.0.113.9
grep -q "198.51.100.20" "$T/err" || fail "no warning about $B's address"
check_eq "$B carries the same program" "$(xdp_prog "$B")" "$prog"
ip -d link show dev "$B" | grep -q "xdpgeneric" || fail "$B: not in skb mode"
expect_ok dc status --json
check_eq "two interfaces" \
  "$(json 'sorted((i["name"], i["mode"]) for i in d["interfaces"])')" \
  "[('$A', 'native'), ('$B', 'skb')]"
check_eq "shared keys" "$(json 'd["keys"]["current"]["generation"]')" 3
check_eq "pins" "$(ls "$PIN" | tr '\n' ' ')" \
  "config counters keys link-$A link-${B/./:} prog "

# Detaching one interface keeps the instance for the other.
expect_ok dc detach --iface "$A"
[[ -z $(xdp_prog "$A") ]] || fail "$A still carries XDP after detach"
check_eq "$B untouched" "$(xdp_prog "$B")" "$prog"
expect_ok dc status --json
check_eq "one interface left" "$(json '[i["name"] for i in d["interfaces"]]')" \
  "['$B']"

# The last detach unpins everything.
expect_ok dc detach --iface "$B"
grep -q "removed the instance" "$T/err" || fail "no info line for the unpin"
nothing_left "$A" "$B"
expect_exit 1 "not attached" dc status

# Attaching again starts over: a new program, keys from generation 1;
# with -v, libbpf's own messages come through the log.
expect_ok dc attach -v --iface "$A" --port 4433
grep -q "^debug: libbpf: " "$T/err" || fail "-v shows no libbpf messages"
expect_ok dc status --json
check_eq "fresh keys" "$(json 'd["keys"]["current"]["generation"]')" 1
[[ $(json 'd["program_id"]') != "$prog" ]] || fail "the old program came back"

# An instance attached nowhere (as an agent stopped between loading and
# attaching leaves it; here the link pin is removed by hand, which detaches
# the program): the same settings adopt it with its keys, other settings
# replace it.
expect_ok dc rotate
rm "$PIN/link-$A"
[[ -z $(xdp_prog "$A") ]] || fail "removing the link pin left XDP on $A"
expect_ok dc attach --iface "$A" --port 4433
expect_ok dc status --json
check_eq "unattached instance reused with its keys" \
  "$(json 'd["keys"]["current"]["generation"]')" 2
rm "$PIN/link-$A"
# Run as systemd runs it, with stderr a stream that JOURNAL_STREAM names
# (device:inode; expect_ok and expect_exit write stderr to $T/err, which
# keeps its inode): every line carries its syslog priority for journald.
: >"$T/err"
journal=$(stat -c '%d:%i' "$T/err")
expect_ok env JOURNAL_STREAM="$journal" "$DC" attach --pin-dir "$PIN" \
  --iface "$A" --port 9999
grep -q "^<4>warning: replacing the instance in $PIN, attached nowhere" \
  "$T/err" ||
  fail "no warning (priority 4) about the replaced instance: $(cat "$T/err")"
grep -q "^<6>info: " "$T/err" || fail "no info line at priority 6: $(cat "$T/err")"
if grep -qv "^<[0-7]>" "$T/err"; then
  fail "a journal line without a priority: $(grep -v "^<[0-7]>" "$T/err")"
fi
expect_exit 1 "^<3>dtls-cookie: .*nosuch$ID" env JOURNAL_STREAM="$journal" \
  "$DC" detach --pin-dir "$PIN" --iface "nosuch$ID"
# A variable inherited without the stream changes nothing.
expect_exit 1 "^dtls-cookie: .*nosuch$ID" env JOURNAL_STREAM=1:1 "$DC" \
  detach --pin-dir "$PIN" --iface "nosuch$ID"
expect_ok dc status --json
check_eq "replaced instance" \
  "$(json '(d["ports"], d["keys"]["current"]["generation"])')" "([9999], 1)"
expect_ok dc detach --iface "$A"
nothing_left "$A"

cli_finish
