#!/usr/bin/env bash
# Hostile state under the pin directory, as root on veth: foreign maps and
# programs at the instance's pin names, key maps without keys, pin
# directories off a bpffs or not directories at all, an incomplete
# instance, a lock that is never released. Every command that opens the
# directory (the agent's, the example servers', the pinned key source)
# must refuse with a message naming the cause and the remedy, exit non-zero
# and leave every object as bpftool showed it before.
# Usage: hostile_state.sh DTLS_COOKIE XDP_PASS_OBJECT GNUTLS_SERVER
#        OPENSSL_SERVER PINNED_KEYS_TOOL
set -uo pipefail
DC=$1
PASS_OBJ=$2
SERVERS=("$3" "$4")
KEYS_TOOL=$5
# shellcheck source=cli_lib.sh
source "$(dirname "$0")/cli_lib.sh"
cli_setup
server_pid=
lock_pid=
hostile_cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null
  [[ -n $lock_pid ]] && kill "$lock_pid" 2>/dev/null
  wait 2>/dev/null
  mountpoint -q "$T/tmpfs" && umount -l "$T/tmpfs"
  cli_cleanup
}
trap hostile_cleanup EXIT

A=dca$ID
B=dcb$ID
new_veth "$A" 192.0.2.10/24
new_veth "$B"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$T/key.pem" -out "$T/cert.pem" -subj /CN=hostile -days 1 \
  2>/dev/null || { echo "openssl cannot make a certificate"; exit 1; }

# snap PATH: what bpftool shows of the object pinned at PATH, contents too.
snap() {
  if bpftool map show pinned "$1" >/dev/null 2>&1; then
    bpftool map show pinned "$1"
    bpftool map dump pinned "$1"
  else
    bpftool prog show pinned "$1" || bpftool link show pinned "$1"
  fi 2>&1
}

# state: every name in $PIN with its object.
state() {
  local f
  [[ -d $PIN ]] || { echo "no $PIN"; return; }
  for f in "$PIN"/*; do
    [[ -e $f ]] || continue
    echo "== ${f##*/}"
    snap "$f"
  done
}

# servers_refuse PATTERN: both example servers refuse $PIN with PATTERN.
servers_refuse() {
  local s
  for s in "${SERVERS[@]}"; do
    expect_exit 1 "$1" timeout 10 "$s" --cert "$T/cert.pem" \
      --key "$T/key.pem" --pin-dir "$PIN" --listen 127.0.0.1:0
  done
}

# readers_refuse PATTERN: the servers and the pinned key source refuse.
readers_refuse() {
  servers_refuse "$1"
  expect_exit 1 "$1" "$KEYS_TOOL" "$PIN"
}

# all_refuse PATTERN: every subcommand on $PIN exits 1 with PATTERN;
# nothing in $PIN changed, $A has no program and $B keeps the one it had.
all_refuse() {
  local pattern=$1 before b_prog
  before=$(state)
  b_prog=$(xdp_prog "$B")
  expect_exit 1 "$pattern" dc attach --iface "$A" --port 4433
  expect_exit 1 "$pattern" dc detach --iface "$A"
  expect_exit 1 "$pattern" dc rotate
  expect_exit 1 "$pattern" dc status
  expect_exit 1 "$pattern" dc status --json
  expect_exit 1 "$pattern" dc stats
  expect_exit 1 "$pattern" dc check --count 10
  expect_exit 1 "$pattern" timeout 30 "$DC" run --pin-dir "$PIN" \
    --iface "$A" --port 4433
  check_eq "objects in $PIN after the refusals" "$(state)" "$before"
  check_eq "XDP program on $A" "$(xdp_prog "$A")" ""
  check_eq "XDP program on $B" "$(xdp_prog "$B")" "$b_prog"
}

# Sizes of the real maps, as the kernel reports them.
expect_ok dc attach --iface "$A" --port 4433
CSIZE=$(bpftool map show pinned "$PIN/counters" -j |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_value"])')
CFGSIZE=$(bpftool map show pinned "$PIN/config" -j |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_value"])')
expect_ok dc detach --iface "$A"
nothing_left "$A"
NOT_OURS="is not part of a dtls-cookie instance"
ADVICE="remove it if nothing uses it, or choose another --pin-dir"

echo "--- 1. foreign objects at the instance's pin names"
mkdir "$PIN"
bpftool map create "$PIN/keys" type hash key 4 value 4 entries 1 name dc_keys
bpftool map update pinned "$PIN/keys" key 1 0 0 0 value 2 0 0 0
msg="$PIN/keys $NOT_OURS \(a hash map 'dc_keys' with 4-byte keys, 4-byte values and 1 entry; the key map is an array_of_maps map 'dc_keys' with 4-byte keys, 4-byte values and 1 entry \(another version of dtls-cookie made it, or another program\)\): $ADVICE"
all_refuse "$msg"
readers_refuse "$msg"
rm -r "$PIN"

mkdir "$PIN"
bpftool map create "$PIN/keys" type array key 4 value 8 entries 1 name dc_keys
all_refuse "$PIN/keys $NOT_OURS \(an array map 'dc_keys' with 4-byte keys, 8-byte values"
readers_refuse "$PIN/keys $NOT_OURS \(an array map 'dc_keys' with 4-byte keys, 8-byte values"
rm -r "$PIN"

# The outer layout right, the map in its slot of another layout.
mkdir "$PIN"
bpftool map create "$T/bpffs/inner8" type array key 4 value 8 entries 1 \
  name foreign_inner
bpftool map create "$PIN/keys" type array_of_maps key 4 value 4 entries 1 \
  name dc_keys inner_map pinned "$T/bpffs/inner8"
bpftool map update pinned "$PIN/keys" key 0 0 0 0 value pinned "$T/bpffs/inner8"
msg="$PIN/keys $NOT_OURS \(its slot 0 holds an array map 'foreign_inner' with 4-byte keys, 8-byte values and 1 entry, flags 0x0; the key map's inner map is an array map 'dc_key_set' with 4-byte keys, 64-byte values and 1 entry, flags 0x80\)"
all_refuse "$msg"
readers_refuse "$msg"
rm -r "$PIN" "$T/bpffs/inner8"

# A program where the key map belongs.
mkdir "$PIN"
bpftool prog load "$PASS_OBJ" "$PIN/keys" type xdp
all_refuse "$PIN/keys $NOT_OURS \(a BPF program, not a map\): $ADVICE"
readers_refuse "$PIN/keys $NOT_OURS \(a BPF program, not a map\)"
rm -r "$PIN"

# Counters: another value size; the right sizes without BTF; another name.
mkdir "$PIN"
bpftool map create "$PIN/counters" type percpu_array key 4 value 64 entries 1 \
  name dc_counters
all_refuse "$PIN/counters $NOT_OURS \(a percpu_array map 'dc_counters' with 4-byte keys, 64-byte values and 1 entry; the counters map is a percpu_array map 'dc_counters' with 4-byte keys, $CSIZE-byte values and 1 entry \(another version"
rm -r "$PIN"
mkdir "$PIN"
bpftool map create "$PIN/counters" type percpu_array key 4 value "$CSIZE" \
  entries 1 name dc_counters
all_refuse "$PIN/counters $NOT_OURS \(map 'dc_counters' has the counters map's layout but no BTF, so another program made it\)"
rm -r "$PIN"
mkdir "$PIN"
bpftool map create "$PIN/counters" type percpu_array key 4 value "$CSIZE" \
  entries 1 name counters
all_refuse "$PIN/counters $NOT_OURS \(a percpu_array map 'counters' with 4-byte keys, $CSIZE-byte values and 1 entry; the counters map is a percpu_array map 'dc_counters'"
rm -r "$PIN"

# Config: the right sizes and flags, a .rodata name, but no BTF; and a
# read-write map of the right size.
mkdir "$PIN"
bpftool map create "$PIN/config" type array key 4 value "$CFGSIZE" entries 1 \
  name x.rodata flags 0x80
all_refuse "$PIN/config $NOT_OURS \(map 'x.rodata' has the config map's layout but no BTF"
rm -r "$PIN"
mkdir "$PIN"
bpftool map create "$PIN/config" type array key 4 value "$CFGSIZE" entries 1 \
  name x.rodata
all_refuse "$PIN/config $NOT_OURS \(an array map 'x.rodata' with 4-byte keys, $CFGSIZE-byte values and 1 entry, flags 0x0; the config map is an array map '\*.rodata' with 4-byte keys, $CFGSIZE-byte values and 1 entry, flags 0x80"
rm -r "$PIN"

# A stranger next to a live instance: nothing is detached or rotated.
expect_ok dc attach --iface "$B" --port 4433
live=$(xdp_prog "$B")
bpftool map create "$PIN/extra" type array key 4 value 4 entries 1 name extra
all_refuse "$PIN/extra $NOT_OURS \(an unexpected name in a pin directory\)"
check_eq "$B still served" "$(xdp_prog "$B")" "$live"
rm "$PIN/extra"

# A key map of the right layout, with a map of the right layout in its
# slot, swapped in for the live one: the agent sees that the program does
# not use it; a server (which cannot tell) reads no keys from it.
mv "$PIN/keys" "$T/bpffs/keys-real"
bpftool map create "$T/bpffs/fake-set" type array key 4 value 64 entries 1 \
  name dc_key_set flags 0x80
bpftool map create "$PIN/keys" type array_of_maps key 4 value 4 entries 1 \
  name dc_keys inner_map pinned "$T/bpffs/fake-set"
bpftool map update pinned "$PIN/keys" key 0 0 0 0 value pinned "$T/bpffs/fake-set"
all_refuse "$PIN/keys $NOT_OURS \(a map the pinned program does not use\)"
servers_refuse "$PIN/keys holds no key set \(the set in its slot 0 holds no valid key\)"
check_eq "$B still served" "$(xdp_prog "$B")" "$live"
rm "$PIN/keys" "$T/bpffs/fake-set"
mv "$T/bpffs/keys-real" "$PIN/keys"
expect_ok dc detach --iface "$B"
nothing_left "$A" "$B"

echo "--- 2. a key map without keys"
expect_ok dc attach --iface "$A" --port 4433
bpftool map delete pinned "$PIN/keys" key 0 0 0 0
expect_ok dc status
grep -q "none: the key map holds no key set (its slot 0 is empty), so the responder answers no ClientHello (--no-keys pass); dtls-cookie rotate publishes one" "$T/out" ||
  fail "status does not say that there are no keys: $(cat "$T/out")"
expect_ok dc status --json
check_eq "status --json keys.problem" \
  "$(json 'd["keys"]["problem"].startswith("none: the key map holds no key set (its slot 0 is empty)")')" True
expect_ok dc stats
expect_exit 1 "the key map in $PIN holds no key set \(its slot 0 is empty\), so the responder answers no ClientHello: publish one \(dtls-cookie rotate --pin-dir $PIN\) and check again" \
  dc check --count 50
grep -q "frames with cookies are left out" "$T/out" ||
  fail "check does not say what it left out"
expect_ok "$KEYS_TOOL" "$PIN"
check_eq "keys the pinned key source reads" "$(cat "$T/out")" none
for s in "${SERVERS[@]}"; do
  expect_exit 1 "$PIN/keys holds no key set \(its slot 0 is empty\): the responder answers no ClientHello and no cookie could be verified; publish a key set \(dtls-cookie rotate --pin-dir $PIN\)" \
    timeout 10 "$s" --cert "$T/cert.pem" --key "$T/key.pem" --pin-dir "$PIN" \
    --listen 127.0.0.1:0
done
# Rotating repairs it: there was nothing to keep.
expect_exit 0 "the key map in $PIN holds no key set \(its slot 0 is empty\); publishing one" \
  dc rotate
expect_ok dc status --json
check_eq "generations after the repair" "$(gens)" "(1, None)"

# A set in the slot without a valid key, then one with only a previous key.
bpftool map create "$T/bpffs/zero-set" type array key 4 value 64 entries 1 \
  name dc_key_set flags 0x80
bpftool map update pinned "$PIN/keys" key 0 0 0 0 value pinned "$T/bpffs/zero-set"
expect_ok dc status
grep -q "holds no key set (the set in its slot 0 holds no valid key)" "$T/out" ||
  fail "status: $(cat "$T/out")"
servers_refuse "$PIN/keys holds no key set \(the set in its slot 0 holds no valid key\)"
expect_exit 1 "holds no key set \(the set in its slot 0 holds no valid key\)" \
  dc check --count 20
# struct dc_key_set: current (generation, flags, created, bytes), previous.
prev=(0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
  7 0 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0)
bpftool map update pinned "$T/bpffs/zero-set" key 0 0 0 0 value "${prev[@]}"
before=$(snap "$T/bpffs/zero-set")
expect_ok dc status
grep -q "the set in its slot 0 has no valid current key, only a previous one, generation 7, which is never used alone" "$T/out" ||
  fail "status: $(cat "$T/out")"
# attach reusing the instance publishes a set too.
expect_exit 0 "the key map in $PIN holds no key set \(the set in its slot 0 has no valid current key.*; publishing one" \
  dc attach --iface "$B" --port 4433
expect_ok dc status --json
check_eq "generations after attach" "$(gens)" "(1, None)"
check_eq "the foreign set is unchanged" "$(snap "$T/bpffs/zero-set")" "$before"
rm "$T/bpffs/zero-set"
expect_ok dc detach --iface "$B"

# run adopting an instance without keys publishes a set before ready.
bpftool map delete pinned "$PIN/keys" key 0 0 0 0
"$DC" run --pin-dir "$PIN" --iface "$A" --port 4433 >"$T/run.log" 2>&1 &
run_pid=$!
for ((i = 0; i < 100; i++)); do
  grep -q "ready: answering" "$T/run.log" && break
  sleep 0.1
done
if grep -q "holds no key set (its slot 0 is empty); publishing one" "$T/run.log"; then
  pass "run publishes a key set on adopting an instance without one"
else
  fail "run: $(cat "$T/run.log")"
fi
expect_ok dc status --json
check_eq "generations run published" "$(gens)" "(1, None)"
kill -TERM "$run_pid"
wait "$run_pid" || fail "run exited $? on SIGTERM"
nothing_left "$A"

# A server that runs while the keys go away says why, and says when they
# are back.
expect_ok dc attach --iface "$A" --port 4433
"${SERVERS[0]}" --cert "$T/cert.pem" --key "$T/key.pem" --pin-dir "$PIN" \
  --listen 127.0.0.1:0 >/dev/null 2>"$T/server.log" &
server_pid=$!
for ((i = 0; i < 50; i++)); do
  port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$T/server.log")
  [[ -n $port ]] && break
  sleep 0.1
done
# poke PATTERN: datagrams (each makes the server read its keys) until the
# log shows PATTERN, for at most 3 s.
poke() {
  local i
  for ((i = 0; i < 15; i++)); do
    printf 'x' >/dev/udp/127.0.0.1/"$port"
    sleep 0.2
    grep -q "$1" "$T/server.log" && { pass "server log: $1"; return; }
  done
  fail "server log lacks '$1': $(cat "$T/server.log")"
}
bpftool map delete pinned "$PIN/keys" key 0 0 0 0
poke "no cookie keys: $PIN/keys holds no key set (its slot 0 is empty)"
expect_ok dc rotate
poke "cookie keys readable again from $PIN/keys"
kill "$server_pid"
wait "$server_pid" 2>/dev/null
server_pid=
expect_ok dc detach --iface "$A"
nothing_left "$A"

echo "--- 3. pin directories off a bpffs"
mkdir "$T/tmpfs" "$T/plain"
mount -t tmpfs tmpfs "$T/tmpfs"
plain_fs=$(findmnt -n -o FSTYPE --target "$T/plain")
for dir in "$T/tmpfs/dc" "$T/tmpfs" "$T/plain"; do
  fs=tmpfs
  [[ $dir == "$T/plain" ]] && fs=$plain_fs
  where=$dir
  [[ -e $dir ]] || where=${dir%/*}
  msg="--pin-dir $dir is not on a bpffs \($where is on $fs mounted on .*\): BPF objects can be pinned only on a bpffs; mount one \(mount -t bpf bpf /sys/fs/bpf\)"
  # Refused before anything is loaded: libbpf says nothing under -v.
  expect_exit 1 "$msg" "$DC" -v attach --pin-dir "$dir" --iface "$A" \
    --port 4433
  if grep -q "libbpf" "$T/err"; then fail "attach loaded something for $dir"; fi
  for sub in status rotate stats "check --count 5" "detach --iface $A"; do
    # shellcheck disable=SC2086 # the subcommand's words
    expect_exit 1 "$msg" "$DC" $sub --pin-dir "$dir"
  done
  expect_exit 1 "$msg" timeout 30 "$DC" run --pin-dir "$dir" --iface "$A" \
    --port 4433
  PIN=$dir readers_refuse "$msg"
done
check_eq "what the tmpfs holds" "$(ls -A "$T/tmpfs")" ""
check_eq "what the plain directory holds" "$(ls -A "$T/plain")" ""
nothing_left "$A"

echo "--- 4. other hostile state"
# A pin directory that is a pinned map, a file off bpffs, a dangling link.
bpftool map create "$T/bpffs/amap" type array key 4 value 4 entries 1 name amap
before=$(snap "$T/bpffs/amap")
expect_exit 1 "$T/bpffs/amap $NOT_OURS \(not a directory\)" \
  "$DC" attach --pin-dir "$T/bpffs/amap" --iface "$A" --port 4433
expect_exit 1 "$T/bpffs/amap $NOT_OURS \(not a directory\)" \
  "$DC" status --pin-dir "$T/bpffs/amap"
check_eq "the map at the pin path" "$(snap "$T/bpffs/amap")" "$before"
rm "$T/bpffs/amap"
touch "$T/tmpfs/file"
expect_exit 1 "--pin-dir $T/tmpfs/file is not on a bpffs \($T/tmpfs/file is on tmpfs" \
  "$DC" rotate --pin-dir "$T/tmpfs/file"
ln -s "$T/bpffs/nowhere" "$T/bpffs/dangling"
expect_exit 1 "$T/bpffs/dangling $NOT_OURS \(a symbolic link to $T/bpffs/nowhere, which does not exist\)" \
  "$DC" attach --pin-dir "$T/bpffs/dangling" --iface "$A" --port 4433
[[ -e $T/bpffs/nowhere ]] && fail "attach made the link's target"
rm "$T/bpffs/dangling"
nothing_left "$A"

# An instance an agent left incomplete, attached nowhere: the commands
# that only use it refuse; attach replaces it and keeps its keys.
expect_ok dc attach --iface "$A" --port 4433
expect_ok dc rotate
"$KEYS_TOOL" "$PIN" >"$T/keys-before"
rm "$PIN/link-$A" "$PIN/config"
check_eq "XDP program on $A once its link is unpinned" "$(xdp_prog "$A")" ""
msg="the instance in $PIN is incomplete \(no config pin, attached nowhere\), left by an agent stopped while it created or removed it: dtls-cookie attach or run with this --pin-dir replaces it, or remove the directory \(rm -r $PIN\)"
before=$(state)
expect_exit 1 "$msg" dc status
expect_exit 1 "$msg" dc rotate
expect_exit 1 "$msg" dc detach --iface "$A"
expect_exit 1 "$msg" dc check --count 5
check_eq "the incomplete instance after the refusals" "$(state)" "$before"
expect_exit 0 "removed the incomplete instance in $PIN, attached nowhere, that an agent stopped while creating or removing it; its keys are kept" \
  dc attach --iface "$A" --port 4433
expect_ok "$KEYS_TOOL" "$PIN"
check_eq "keys carried over" "$(cat "$T/out")" "$(cat "$T/keys-before")"
[[ -n $(xdp_prog "$A") ]] || fail "$A is not attached"
# Incomplete but still attached: nothing removes it on its own.
mv "$PIN/keys" "$T/bpffs/keys-aside"
msg="the instance in $PIN is incomplete \(no keys pin, yet attached\), left by an agent stopped while it created or removed it: remove the directory \(rm -r $PIN\)"
expect_exit 1 "$msg" dc attach --iface "$B" --port 4433
expect_exit 1 "$msg" timeout 30 "$DC" run --pin-dir "$PIN" --iface "$A" \
  --port 4433
[[ -n $(xdp_prog "$A") ]] || fail "$A lost its program"
check_eq "XDP program on $B" "$(xdp_prog "$B")" ""
mv "$T/bpffs/keys-aside" "$PIN/keys"
expect_ok dc detach --iface "$A"
nothing_left "$A" "$B"

# A lock that another process holds: a short hold is waited for, one that
# does not end is reported with the holder after the wait.
# hold_lock SECONDS: a process that holds the lock for SECONDS, in the
# background ($lock_pid), once it holds it.
hold_lock() {
  rm -f "$T/locked"
  python3 -c '
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(float(sys.argv[3]))' "$T/bpffs" "$T/locked" "$1" &
  lock_pid=$!
  for ((i = 0; i < 50; i++)); do [[ -e $T/locked ]] && return; sleep 0.1; done
  fail "the lock holder did not start"
}
hold_lock 1
expect_ok dc attach --iface "$A" --port 4433
grep -q "waiting for process $lock_pid (python3) to release its lock on $T/bpffs" \
  "$T/err" || fail "no word about the wait: $(cat "$T/err")"
wait "$lock_pid"
hold_lock 60
before=$(state)
start=$SECONDS
expect_exit 1 "process $lock_pid \(python3\) has held the lock on $T/bpffs \(flock\) for more than 10 s: if it is a dtls-cookie command that hangs, stop it; else try again when it is done" \
  dc rotate
((SECONDS - start <= 15)) || fail "rotate waited $((SECONDS - start)) s"
check_eq "the instance while locked" "$(state)" "$before"
kill "$lock_pid"
wait "$lock_pid" 2>/dev/null
lock_pid=
expect_ok dc detach --iface "$A"
nothing_left "$A"

cli_finish
