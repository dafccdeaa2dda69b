#!/usr/bin/env bash
# dtls-cookie run end to end in a veth lab: readiness through sd_notify,
# metrics to a real HTTP client, cookies from a real exchange surviving a
# SIGKILL and the adopting restart, SIGHUP re-reading the secret file,
# scheduled rotation, orderly stops that leave nothing, refused starts.
#
# usage: run_daemon.sh AGENT PINNED_KEYS_TOOL XDP_PASS_OBJ CLIENT_HELLO_DIR
set -euo pipefail

agent=$1 keys_tool=$2 pass_obj=$3 hellos=$4
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../integration/lab.sh
source "$here/../integration/lab.sh"

if ((EUID != 0)); then
  echo "SKIP: needs root (BPF, namespaces, mounts)"
  exit 77
fi

work=$(mktemp -d /tmp/dc-agent-run.XXXXXX)
daemon_pid=
listener_pid=

cleanup() {
  local rc=$?
  if [[ -n $daemon_pid ]]; then kill -KILL "$daemon_pid" 2>/dev/null || true; fi
  if [[ -n $listener_pid ]]; then kill "$listener_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  lab_down
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/*.log; do
    [[ -f $f ]] || continue
    echo "--- $(basename "$f")" >&2
    tail -n 30 "$f" >&2
  done
  exit 1
}

# wait_for SECONDS CMD...: polls CMD every 100 ms until it succeeds.
wait_for() {
  local limit=$(($1 * 10))
  shift
  for ((i = 0; i < limit; i++)); do
    if "$@" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

lab_up "$work" "$pass_obj"
pin=$LAB_PIN_DIR
hello_bin=$hellos/openssl-dtls1_2.first.bin
run_n=0

# start_daemon NOTIFY_SOCKET ARGS...: starts dtls-cookie run in the server
# namespace with a notify listener, and waits for READY=1.
start_daemon() {
  local notify=$1
  shift
  run_n=$((run_n + 1))
  daemon_log=$work/daemon$run_n.log
  notify_log=$work/notify$run_n.log
  local ready=$work/listener$run_n.ready
  # An abstract socket belongs to a network namespace, a path one to none.
  if [[ $notify == @* ]]; then
    ip netns exec "$LAB_SRV_NS" python3 "$here/notify_listener.py" \
      "$notify" "$notify_log" "$ready" 120 &
  else
    python3 "$here/notify_listener.py" "$notify" "$notify_log" "$ready" 120 &
  fi
  listener_pid=$!
  wait_for 10 test -e "$ready" || fail "notify listener did not start"
  # ip and env exec the agent, so $! is the daemon itself.
  ip netns exec "$LAB_SRV_NS" env NOTIFY_SOCKET="$notify" \
    "$agent" run --iface "$LAB_SRV_IF" --port 4433 --pin-dir "$pin" \
    --metrics 127.0.0.1:0 "$@" 2>"$daemon_log" &
  daemon_pid=$!
  wait_for 30 grep -q '^READY=1' "$notify_log" ||
    fail "run $run_n sent no READY=1"
  grep -q 'start-up check passed: 1000 frames, 0 mismatches' "$daemon_log" ||
    fail "run $run_n: no start-up check before READY=1"
  metrics_url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/metrics' "$daemon_log")
  [[ -n $metrics_url ]] || fail "run $run_n logged no metrics address"
}

# stop_daemon SIGNAL: the daemon must exit 0 and say STOPPING=1.
stop_daemon() {
  kill -"$1" "$daemon_pid"
  local rc=0
  wait "$daemon_pid" || rc=$?
  daemon_pid=
  ((rc == 0)) || fail "run $run_n exited $rc after SIG$1"
  wait_for 5 grep -q '^STOPPING=1' "$notify_log" ||
    fail "run $run_n sent no STOPPING=1"
  wait "$listener_pid" 2>/dev/null || true
  listener_pid=
}

scrape() {
  ip netns exec "$LAB_SRV_NS" python3 -c '
import sys, urllib.request
r = urllib.request.urlopen(sys.argv[1], timeout=5)
assert r.status == 200, r.status
assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
sys.stdout.write(r.read().decode())' "$metrics_url" >"$work/scrape" ||
    fail "GET $metrics_url failed"
}

# metric NAME: its value in the last scrape (NAME may carry labels).
metric() {
  awk -v n="$1" '$1 == n { print $2; found = 1 } END { exit !found }' \
    "$work/scrape" || fail "metric $1 missing from the scrape"
}

# client hello|second LOCAL_PORT COOKIE_FILE: one step of the exchange.
client() {
  ip netns exec "$LAB_CLI_NS" python3 "$here/dtls_client.py" "$1" \
    --server "$LAB_SRV4" --bind "$LAB_CLI4:$2" --client-hello "$hello_bin" \
    --cookie-file "$3"
}

stat_json() { "$agent" stats --json --pin-dir "$pin"; }
prog_id() {
  "$agent" status --json --pin-dir "$pin" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["program_id"])'
}
frames_seen() {
  python3 -c 'import json,sys; c = json.load(open(sys.argv[1]))["counters"]
print(sum(c[k] for k in ("xdp_pass", "xdp_drop", "xdp_tx", "xdp_aborted")))' "$1"
}
xdp_on_iface() {
  ip -n "$LAB_SRV_NS" link show dev "$LAB_SRV_IF" | grep -q ' xdp'
}
nothing_left() {
  if [[ -e $pin ]] && [[ -n $(ls -A "$pin") ]]; then
    fail "pins left behind: $(ls "$pin")"
  fi
  if xdp_on_iface; then fail "an XDP program is still on $LAB_SRV_IF"; fi
}

echo "== run, metrics, a real cookie exchange, check on the live instance"
start_daemon "$work/notify$((run_n + 1)).sock" --rotate-every 3600
grep -q "attached to $LAB_SRV_IF" "$daemon_log" || fail "no attach logged"
scrape
# Prometheus's own linter on the real scrape: names, units, HELP and TYPE.
promtool check metrics <"$work/scrape" || fail "promtool rejects the metrics"
for action in pass drop tx aborted; do
  metric "dtls_cookie_xdp_actions_total{action=\"$action\"}" >/dev/null
done
for reason in not_ours answered_no_cookie answered_bad_cookie \
  valid_cookie_current valid_cookie_previous bad_source established \
  fragmented dtls13 malformed no_keys tx_failed rate_limited; do
  metric "dtls_cookie_packets_total{reason=\"$reason\"}" >/dev/null
done
grep -q '^# TYPE dtls_cookie_packets_total counter$' "$work/scrape" ||
  fail "no TYPE line for dtls_cookie_packets_total"
[[ $(metric "dtls_cookie_interface_attached{interface=\"$LAB_SRV_IF\",ifindex=\"$(
  ip -n "$LAB_SRV_NS" -o link show dev "$LAB_SRV_IF" | cut -d: -f1)\",mode=\"native\"}") == 1 ]] ||
  fail "attached gauge"
[[ $(metric 'dtls_cookie_key_generation{key="current"}') == 1 ]] ||
  fail "first key generation is not 1"
no_cookie=$(metric 'dtls_cookie_packets_total{reason="answered_no_cookie"}')
valid=$(metric 'dtls_cookie_packets_total{reason="valid_cookie_current"}')

client hello 40001 "$work/cookie1" >/dev/null || fail "no HelloVerifyRequest"
[[ $(client second 40001 "$work/cookie1") == passed* ]] ||
  fail "the second ClientHello was answered again"
scrape
[[ $(metric 'dtls_cookie_packets_total{reason="answered_no_cookie"}') == $((no_cookie + 1)) ]] ||
  fail "answered_no_cookie did not count the first ClientHello"
[[ $(metric 'dtls_cookie_packets_total{reason="valid_cookie_current"}') == $((valid + 1)) ]] ||
  fail "valid_cookie_current did not count the second ClientHello"

"$agent" check --pin-dir "$pin" --count 500 >"$work/check.log" ||
  fail "check failed on the live instance"
grep -q 'check passed: 500 frames, 0 mismatches' "$work/check.log" ||
  fail "check printed no summary"

echo "== SIGKILL leaves the responder working; run again adopts it"
keys_before=$("$keys_tool" "$pin")
id_before=$(prog_id)
stat_json >"$work/stats_before.json"
kill -KILL "$daemon_pid"
wait "$daemon_pid" 2>/dev/null || true
daemon_pid=
kill "$listener_pid" 2>/dev/null || true
wait "$listener_pid" 2>/dev/null || true
listener_pid=
for f in prog keys counters config "link-$LAB_SRV_IF"; do
  [[ -e $pin/$f ]] || fail "$pin/$f is gone after SIGKILL"
done
client hello 40002 "$work/cookie2" >/dev/null ||
  fail "no answer while no daemon runs"

start_daemon "@dc-notify-$$-$RANDOM" --rotate-every 3600
grep -q "adopted the attachment to $LAB_SRV_IF" "$daemon_log" ||
  fail "the restart did not adopt the pinned link"
[[ $(prog_id) == "$id_before" ]] || fail "the restart loaded a new program"
[[ $("$keys_tool" "$pin") == "$keys_before" ]] ||
  fail "keys changed across the restart: $keys_before / $("$keys_tool" "$pin")"
stat_json >"$work/stats_after.json"
before=$(frames_seen "$work/stats_before.json")
after=$(frames_seen "$work/stats_after.json")
# The restart's own check adds 1000 frames; fresh maps would hold only those.
((after >= before + 1000)) ||
  fail "counters did not survive: $before frames before, $after after"
python3 - "$work/stats_before.json" "$work/stats_after.json" <<'EOF' ||
import json, sys
a, b = (json.load(open(p))["counters"] for p in sys.argv[1:])
low = [k for k in a if b[k] < a[k]]
sys.exit("counters went down: %s" % low if low else 0)
EOF
  fail "a counter went down across the restart"
scrape
valid=$(metric 'dtls_cookie_packets_total{reason="valid_cookie_current"}')
# Cookies are bound to the client's port: each goes back from its own.
[[ $(client second 40002 "$work/cookie2") == passed* ]] ||
  fail "a cookie issued while no daemon ran was refused after the restart"
[[ $(client second 40001 "$work/cookie1") == passed* ]] ||
  fail "a cookie issued before the SIGKILL was refused after the restart"

echo "== SIGTERM detaches and unpins"
stop_daemon TERM
grep -q "removed the instance pinned in $pin" "$daemon_log" ||
  fail "no unpin logged"
nothing_left
if bpftool prog show id "$id_before" >/dev/null 2>&1; then
  fail "program $id_before still loaded after SIGTERM"
fi

echo "== fleet keys: SIGHUP reads the secret file again"
secret=$work/secret
head -c 32 /dev/urandom >"$secret"
start_daemon "$work/notify$((run_n + 1)).sock" --secret-file "$secret" --rotate-every 3600
epoch=$(($(date +%s) / 3600))
keys1=$("$keys_tool" "$pin")
[[ $keys1 == "current $epoch "* || $keys1 == "current $((epoch + 1)) "* ]] ||
  fail "fleet key generation is not the epoch $epoch: $keys1"
client hello 40003 "$work/cookie3" >/dev/null || fail "no HelloVerifyRequest"
head -c 32 /dev/urandom >"$secret"
kill -HUP "$daemon_pid"
wait_for 10 grep -q "SIGHUP: read $secret again" "$daemon_log" ||
  fail "SIGHUP did not re-read the secret"
wait_for 10 test "$("$keys_tool" "$pin")" != "$keys1" ||
  fail "the new secret's keys were not published"
keys2=$("$keys_tool" "$pin")
scrape
bad=$(metric 'dtls_cookie_packets_total{reason="answered_bad_cookie"}')
[[ $(client second 40003 "$work/cookie3") == answered ]] ||
  fail "a cookie of the old secret still verifies"
scrape
[[ $(metric 'dtls_cookie_packets_total{reason="answered_bad_cookie"}') == $((bad + 1)) ]] ||
  fail "answered_bad_cookie did not count the stale cookie"

head -c 5 /dev/urandom >"$secret"
kill -HUP "$daemon_pid"
wait_for 10 grep -q "keeping the secret read before" "$daemon_log" ||
  fail "a short secret file was not refused"
kill -0 "$daemon_pid" || fail "the daemon died of a bad secret file"
[[ $("$keys_tool" "$pin") == "$keys2" ]] || fail "keys changed on a bad secret"
stop_daemon INT
nothing_left

echo "== fleet keys follow the epochs"
head -c 32 /dev/urandom >"$secret"
start_daemon "$work/notify$((run_n + 1)).sock" --secret-file "$secret" \
  --rotate-every 2
sleep 4.5
scrape
now_epoch=$(($(date +%s) / 2))
gen=$(metric 'dtls_cookie_key_generation{key="current"}')
((gen == now_epoch || gen + 1 == now_epoch)) ||
  fail "fleet generation $gen in epoch $now_epoch"
[[ $(metric 'dtls_cookie_key_generation{key="previous"}') == $((gen - 1)) ]] ||
  fail "the previous fleet key is not the epoch before"
(($(metric dtls_cookie_key_rotations_total) >= 2)) ||
  fail "fewer than 2 epoch changes published in 4.5 s"
stop_daemon TERM
nothing_left

echo "== scheduled rotation; a second daemon refused before it attaches"
start_daemon "$work/notify$((run_n + 1)).sock" --rotate-every 1
sleep 3.5
scrape
gen=$(metric 'dtls_cookie_key_generation{key="current"}')
((gen >= 3)) || fail "generation $gen after 3.5 s of 1 s rotations"
[[ $(metric 'dtls_cookie_key_generation{key="previous"}') == $((gen - 1)) ]] ||
  fail "the previous key is not the one before the current"
(($(metric dtls_cookie_key_rotations_total) >= 2)) || fail "rotations_total"
client hello 40004 "$work/cookie4" >/dev/null || fail "no HelloVerifyRequest"
[[ $(client second 40004 "$work/cookie4") == passed* ]] ||
  fail "a fresh cookie was refused under 1 s rotation"

port=${metrics_url##*:}
port=${port%%/*}
links_before=$(ls "$pin")
rc=0
ip netns exec "$LAB_SRV_NS" "$agent" run --iface "$LAB_SRV_IF" --port 4433 \
  --pin-dir "$pin" --metrics "127.0.0.1:$port" 2>"$work/refused.log" || rc=$?
((rc == 1)) || fail "a second run on a busy metrics port exited $rc"
grep -q "cannot bind TCP 127.0.0.1:$port" "$work/refused.log" ||
  fail "the refusal does not name the address"
[[ $(ls "$pin") == "$links_before" ]] || fail "the refused run changed the pins"
kill -0 "$daemon_pid" || fail "the first daemon died"
stop_daemon TERM
nothing_left

echo "== refused starts leave nothing"
rc=0
ip netns exec "$LAB_SRV_NS" "$agent" run --iface "$LAB_SRV_IF" --port 4433 \
  --pin-dir "$pin" --secret-file "$work/missing" 2>"$work/refused.log" || rc=$?
((rc == 1)) || fail "run with a missing secret file exited $rc"
grep -q "cannot read secret file $work/missing" "$work/refused.log" ||
  fail "no message naming the secret file"
nothing_left
rc=0
"$agent" check --pin-dir "$pin" >"$work/check.log" 2>&1 || rc=$?
((rc == 1)) || fail "check with nothing pinned exited $rc"
grep -q "no responder is pinned in $pin" "$work/check.log" ||
  fail "check did not say nothing is pinned"

echo "PASS"
